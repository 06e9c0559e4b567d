#pragma once
// A small well-formedness checker for the generated report: every non-void element closed in
// order, attributes quoted, no bare '<' or '&' in text. Enough for HTML we write ourselves
// (not a general HTML5 parser: <script>/<style> bodies are skipped as raw text).
#include <algorithm>
#include <cctype>
#include <set>
#include <string>
#include <vector>

namespace specopt_test {

// All src attributes of <img> elements, in order.
inline std::vector<std::string> img_sources(const std::string& html) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while ((pos = html.find("<img", pos)) != std::string::npos) {
    const auto end = html.find('>', pos);
    const auto src = html.find("src=\"", pos);
    if (src != std::string::npos && src < end) {
      const auto close = html.find('"', src + 5);
      out.push_back(html.substr(src + 5, close - src - 5));
    }
    pos = end;
  }
  return out;
}

// "" when well-formed, else the first problem with its byte offset.
inline std::string html_problems(const std::string& h) {
  static const std::set<std::string> kVoid = {"area", "base", "br", "col", "embed", "hr", "img",
                                               "input", "link", "meta", "source", "track", "wbr"};
  std::vector<std::string> open;
  std::size_t i = 0;
  auto at = [&](std::size_t p) { return " at byte " + std::to_string(p); };
  while (i < h.size()) {
    const char c = h[i];
    if (c == '&') {
      std::size_t j = i + 1;
      if (j < h.size() && h[j] == '#') ++j;
      while (j < h.size() && std::isalnum(static_cast<unsigned char>(h[j]))) ++j;
      if (j == i + 1 || j >= h.size() || h[j] != ';') return "bare '&'" + at(i);
      i = j + 1;
      continue;
    }
    if (c != '<') {
      if (c == '>') return "bare '>'" + at(i);
      ++i;
      continue;
    }
    if (h.compare(i, 4, "<!--") == 0) {
      const auto e = h.find("-->", i);
      if (e == std::string::npos) return "unterminated comment" + at(i);
      i = e + 3;
      continue;
    }
    if (h.compare(i, 2, "<!") == 0) {  // doctype
      const auto e = h.find('>', i);
      if (e == std::string::npos) return "unterminated declaration" + at(i);
      i = e + 1;
      continue;
    }
    const bool closing = i + 1 < h.size() && h[i + 1] == '/';
    std::size_t j = i + (closing ? 2 : 1);
    std::string name;
    while (j < h.size() && (std::isalnum(static_cast<unsigned char>(h[j])) || h[j] == '-')) {
      name += static_cast<char>(std::tolower(static_cast<unsigned char>(h[j])));
      ++j;
    }
    if (name.empty()) return "bare '<'" + at(i);
    // Attributes: name, name=value with a quoted value.
    bool self_closing = false;
    while (true) {
      while (j < h.size() && std::isspace(static_cast<unsigned char>(h[j]))) ++j;
      if (j >= h.size()) return "unterminated tag <" + name + ">" + at(i);
      if (h[j] == '>') break;
      if (h[j] == '/' && j + 1 < h.size() && h[j + 1] == '>') {
        self_closing = true;
        ++j;
        break;
      }
      if (closing) return "attributes on closing tag </" + name + ">" + at(i);
      std::size_t k = j;
      while (k < h.size() && (std::isalnum(static_cast<unsigned char>(h[k])) || h[k] == '-' || h[k] == '_' || h[k] == ':')) ++k;
      if (k == j) return "bad attribute in <" + name + ">" + at(j);
      j = k;
      if (h[j] == '=') {
        ++j;
        if (j >= h.size() || (h[j] != '"' && h[j] != '\'')) return "unquoted attribute value in <" + name + ">" + at(j);
        const auto q = h.find(h[j], j + 1);
        if (q == std::string::npos) return "unterminated attribute value" + at(j);
        if (h.substr(j + 1, q - j - 1).find('<') != std::string::npos) return "'<' in attribute value" + at(j);
        j = q + 1;
      }
    }
    i = j + 1;
    if (closing) {
      if (open.empty()) return "</" + name + "> closes nothing" + at(i);
      if (open.back() != name) return "</" + name + "> closes <" + open.back() + ">" + at(i);
      open.pop_back();
      continue;
    }
    if (kVoid.count(name) || self_closing) continue;
    if (name == "script" || name == "style") {
      const auto e = h.find("</" + name, i);
      if (e == std::string::npos) return "unterminated <" + name + ">" + at(i);
      i = e;
    }
    open.push_back(name);
  }
  if (!open.empty()) return "<" + open.back() + "> never closed";
  if (h.find("<html") == std::string::npos || h.find("<body") == std::string::npos) {
    return "no <html> or <body>";
  }
  return "";
}

}  // namespace specopt_test
