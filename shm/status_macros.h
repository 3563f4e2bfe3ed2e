// The two helpers every part needs and Debian's Abseil (20220623) does not have yet.
// Lives in shm/ because it is the lowest layer that every other part links.
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define JOBD_CONCAT_INNER_(a, b) a##b
#define JOBD_CONCAT_(a, b) JOBD_CONCAT_INNER_(a, b)

// Returns the status from the enclosing function when it is not OK.
#define JOBD_RETURN_IF_ERROR(expr)                 \
  do {                                             \
    if (::absl::Status _jobd_status = (expr);      \
        !_jobd_status.ok()) {                      \
      return _jobd_status;                         \
    }                                              \
  } while (0)

// `JOBD_ASSIGN_OR_RETURN(auto x, F());` declares x from a StatusOr or returns its status.
#define JOBD_ASSIGN_OR_RETURN(lhs, expr) \
  JOBD_ASSIGN_OR_RETURN_IMPL_(JOBD_CONCAT_(_jobd_statusor_, __LINE__), lhs, expr)
#define JOBD_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                \
  if (!tmp.ok()) return std::move(tmp).status();    \
  lhs = std::move(*tmp)
