// Model output to DOM, never trusted as HTML: markdown-it with raw HTML off, links only to
// http, https and mailto (opened apart, with no referrer), images never loaded (shown as
// text), code blocks highlighted by highlight.js (whose output is escaped text in spans).
(function () {
  "use strict";
  var SAFE_URL = /^(https?:|mailto:)/i;
  var md = window.markdownit({
    html: false,
    linkify: false,
    typographer: false,
    highlight: function (code, lang) {
      var name = (lang || "").trim().split(/\s+/)[0];
      if (name && window.hljs && window.hljs.getLanguage(name)) {
        try {
          return '<pre><code class="hljs">' +
            window.hljs.highlight(code, { language: name, ignoreIllegals: true }).value +
            "</code></pre>";
        } catch (e) { /* fall back to plain, escaped text */ }
      }
      return "";
    }
  });
  md.validateLink = function (url) { return SAFE_URL.test(String(url).trim()); };

  var defaultLinkOpen = md.renderer.rules.link_open || function (tokens, idx, options, env, self) {
    return self.renderToken(tokens, idx, options);
  };
  md.renderer.rules.link_open = function (tokens, idx, options, env, self) {
    tokens[idx].attrSet("rel", "noopener noreferrer");
    tokens[idx].attrSet("target", "_blank");
    return defaultLinkOpen(tokens, idx, options, env, self);
  };
  md.renderer.rules.image = function (tokens, idx) {
    var token = tokens[idx];
    var alt = token.content || "image";
    var src = token.attrGet("src") || "";
    return '<span class="image-link">' + md.utils.escapeHtml("[image: " + alt + "] " + src) +
      "</span>";
  };

  function render(element, text) {
    element.innerHTML = md.render(text || "");
    // Belt and braces: nothing but safe links survives, whatever the renderer did.
    element.querySelectorAll("a").forEach(function (a) {
      var href = a.getAttribute("href") || "";
      if (!SAFE_URL.test(href.trim())) { a.removeAttribute("href"); }
      a.setAttribute("rel", "noopener noreferrer");
      a.setAttribute("target", "_blank");
    });
    element.querySelectorAll("img, script, iframe, object, embed, style").forEach(function (n) {
      n.remove();
    });
  }

  window.talklineRender = render;
})();
