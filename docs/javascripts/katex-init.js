// Render the maths that pymdownx.arithmatex (generic mode) leaves in
// <span class="arithmatex">\(...\)</span> and <div class="arithmatex">\[...\]</div>,
// with the KaTeX vendored beside this file (docs/_vendor_katex.py): no network needed.
// Only those elements are rendered, so a "\(" in code or prose is left alone.
function renderArithmatex(root) {
  root.querySelectorAll(".arithmatex").forEach(function (element) {
    renderMathInElement(element, {
      delimiters: [
        { left: "\\(", right: "\\)", display: false },
        { left: "\\[", right: "\\]", display: true },
      ],
      throwOnError: false,
    });
  });
}

if (typeof document$ !== "undefined") {
  // Material's instant navigation swaps pages without a reload
  document$.subscribe(function () {
    renderArithmatex(document.body);
  });
} else {
  document.addEventListener("DOMContentLoaded", function () {
    renderArithmatex(document.body);
  });
}
