// A worker's records as the agent and the SDK's worker decode them (proto/worker_records.h):
// from any bytes, a decode never reads outside them, and what decodes is exactly what the encoder
// writes for the decoded record (no two byte strings mean one job or one answer).
#include <cstdlib>
#include <cstring>
#include <vector>

#include "proto/worker_records.h"

using namespace jobd::wire;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // In a buffer of its own, so ASan sees a read one byte past the record.
  std::vector<std::byte> bytes(size);
  if (size != 0) std::memcpy(bytes.data(), data, size);
  AssignmentRecord assignment;
  if (DecodeAssignmentRecord(bytes, assignment)) {
    if (!IsAssignmentRecord(bytes)) std::abort();
    std::vector<std::byte> again(AssignmentRecordBytes(assignment.type, assignment.context));
    EncodeAssignmentRecord(assignment, assignment.type, assignment.context, again);
    if (again != bytes) std::abort();
  }
  ResultRecord result;
  if (DecodeResultRecord(bytes, result)) {
    if (!IsResultRecord(bytes)) std::abort();
    std::vector<std::byte> again(ResultRecordBytes(result, bytes.size()));
    EncodeResultRecord(result, again);
    if (again != bytes) std::abort();
  }
  return 0;
}
