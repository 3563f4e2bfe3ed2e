// What every case of the suite produces: a number, or the reason it has none; and how a case is
// named in the table.
#pragma once

#include <string>

namespace jobd::bench {

struct CaseValue {
  double value = 0;
  std::string error;  // empty: value is valid
};

struct CaseInfo {
  std::string id, label;
};

}  // namespace jobd::bench
