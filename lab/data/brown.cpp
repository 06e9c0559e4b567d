#include "lab/data/brown.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "lab/data/paths.h"

namespace specopt {
namespace lab {

namespace fs = std::filesystem;

std::string strip_brown_tags(const std::string& tagged, const std::string& source) {
  std::string out;
  out.reserve(tagged.size() / 2);
  std::istringstream lines(tagged);
  std::string line;
  int line_no = 0;
  while (std::getline(lines, line)) {
    ++line_no;
    std::istringstream tokens(line);
    std::string token, sentence;
    while (tokens >> token) {
      const auto slash = token.rfind('/');
      if (slash == std::string::npos || slash == 0) {
        throw std::invalid_argument(source + ":" + std::to_string(line_no) + ": token '" + token +
                                    "' has no part-of-speech tag (not a tagged Brown document)");
      }
      std::string word = token.substr(0, slash);
      if (word == "``" || word == "''") word = "\"";
      if (!sentence.empty()) sentence += ' ';
      sentence += word;
    }
    if (!sentence.empty()) {
      out += sentence;
      out += '\n';
    }
  }
  return out;
}

std::vector<std::string> brown_documents(const std::string& dir, std::size_t min_documents) {
  const std::string fix = "; run " + prepare_data_command();
  if (!fs::is_directory(dir)) {
    throw std::runtime_error("Brown corpus not found: '" + dir + "' is not a directory" + fix);
  }
  std::vector<std::string> docs;
  for (const auto& e : fs::directory_iterator(dir)) {
    const auto name = e.path().filename().string();
    // Document names: two lower-case letters (c + genre a..r) and two digits.
    const bool doc = name.size() == 4 && name[0] == 'c' && name[1] >= 'a' && name[1] <= 'r' &&
                     std::isdigit(static_cast<unsigned char>(name[2])) &&
                     std::isdigit(static_cast<unsigned char>(name[3]));
    if (doc && e.is_regular_file()) docs.push_back(e.path().string());
  }
  std::sort(docs.begin(), docs.end());
  if (docs.size() < min_documents) {
    throw std::runtime_error("Brown corpus in '" + dir + "' is incomplete: " +
                             std::to_string(docs.size()) + " documents, expected " +
                             std::to_string(min_documents) + fix);
  }
  return docs;
}

std::string load_brown_text(const std::string& split, const std::string& dir, int val_every,
                            std::size_t min_documents) {
  if (split != "train" && split != "val") {
    throw std::invalid_argument("Brown split '" + split + "' is not 'train' or 'val'");
  }
  if (val_every < 2) {
    throw std::invalid_argument("Brown val_every " + std::to_string(val_every) + " must be >= 2");
  }
  const auto docs = brown_documents(dir.empty() ? brown_dir() : dir, min_documents);
  std::string text;
  for (std::size_t i = 0; i < docs.size(); ++i) {
    const bool is_val = (i + 1) % static_cast<std::size_t>(val_every) == 0;
    if (is_val != (split == "val")) continue;
    std::ifstream in(docs[i], std::ios::binary);
    if (!in) throw std::runtime_error("cannot read Brown document '" + docs[i] + "'");
    std::ostringstream buf;
    buf << in.rdbuf();
    try {
      text += strip_brown_tags(buf.str(), docs[i]);
    } catch (const std::invalid_argument& e) {
      throw std::runtime_error(std::string("corrupt Brown corpus: ") + e.what() + "; run " +
                               prepare_data_command());
    }
  }
  return text;
}

}  // namespace lab
}  // namespace specopt
