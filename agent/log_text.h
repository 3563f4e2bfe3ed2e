// Text from peers, made safe to log: quoted, non-printable bytes escaped, and capped, so a 1 MB
// job type costs one short log line rather than a megabyte of log.
#pragma once

#include <cstddef>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace jobd::agent {

inline std::string Quoted(absl::string_view text, size_t max_bytes = 128) {
  if (text.size() <= max_bytes) return absl::StrCat("'", absl::CHexEscape(text), "'");
  return absl::StrCat("'", absl::CHexEscape(text.substr(0, max_bytes)), "'... (", text.size() - max_bytes,
                      " more bytes)");
}

}  // namespace jobd::agent
