// A session's records as the agent and the SDK decode them (proto/session_records.h): from any
// bytes, a decode never reads outside them, what decodes is exactly what the encoder writes for
// the decoded record (no two byte strings mean one job), and a decoded Submit's strings are UTF-8.
#include <cstdlib>
#include <cstring>
#include <vector>

#include "proto/session_records.h"

using namespace jobd::wire;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // In a buffer of its own, so ASan sees a read one byte past the record.
  std::vector<std::byte> bytes(size);
  if (size != 0) std::memcpy(bytes.data(), data, size);
  SubmitRecord submit;
  if (DecodeSubmitRecord(bytes, submit)) {
    if (!IsSubmitRecord(bytes) || !record_io::ValidUtf8(submit.type)) std::abort();
    for (const auto& [key, value] : submit.context) {
      if (!record_io::ValidUtf8(key) || !record_io::ValidUtf8(value)) std::abort();
    }
    std::vector<std::byte> again(SubmitRecordBytes(submit.type, submit.context));
    EncodeSubmitRecord(submit.fixed, submit.type, submit.context, again);
    if (again != bytes) std::abort();
  }
  CompletionRecord completion;
  if (DecodeCompletionRecord(bytes, completion)) {
    if (!IsCompletionRecord(bytes)) std::abort();
    std::vector<std::byte> again(CompletionRecordBytes(completion, bytes.size()));
    EncodeCompletionRecord(completion, again);
    if (again != bytes) std::abort();
  }
  return 0;
}
