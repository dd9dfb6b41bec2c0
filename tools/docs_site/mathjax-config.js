// MathJax 2 (shipped locally under site_libs/mathjax): typeset only elements marked class="math".
window.MathJax = {
  skipStartupTypeset: false,
  messageStyle: "none",
  showMathMenu: false,
  tex2jax: { inlineMath: [["\\(", "\\)"]], displayMath: [["\\[", "\\]"]], processEscapes: true,
             processEnvironments: true, ignoreClass: "tex2jax_ignore", processClass: "math" },
  "HTML-CSS": { availableFonts: [], imageFont: null, preferredFont: null, webFont: "STIX-Web",
                linebreaks: { automatic: true },
                // MathJax's blank probe font points at about:blank, which Chromium reports as a CORS error
                styles: { "@font-face": { "font-family": "MathJax_Blank", src: "local('MathJax_Blank')" } } },
  // the hidden MathML copies would ask for TeX web fonts this trimmed MathJax does not ship
  AssistiveMML: { disabled: true },
  menuSettings: { zoom: "None", assistiveMML: false }
};
