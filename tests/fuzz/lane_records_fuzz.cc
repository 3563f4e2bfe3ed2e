// The lane's records as a leased worker, a client and the agent decode them (proto/lane_records.h): from
// any bytes, a decode never reads outside them, and what decodes is exactly what the encoder
// writes for the decoded record, so no two byte strings mean one job.
#include <cstdlib>
#include <cstring>
#include <vector>

#include "proto/lane_records.h"

using namespace jobd::wire;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // In a buffer of its own, so ASan sees a read one byte past the record.
  std::vector<std::byte> bytes(size);
  if (size != 0) std::memcpy(bytes.data(), data, size);
  LaneJob job;
  if (DecodeLaneJob(bytes, job)) {
    std::vector<std::byte> again(LaneJobBytes(job.type, job.context));
    EncodeLaneJob(job.seq, job.type, job.request, job.timeout_ms, job.client_sent_ns, job.context, again);
    if (again != bytes) std::abort();
  }
  LaneAnswer answer;
  if (DecodeLaneAnswer(bytes, answer)) {
    std::vector<std::byte> again(LaneAnswerBytes(answer, bytes.size()));
    EncodeLaneAnswer(answer, again);
    if (again != bytes) std::abort();
  }
  LaneReport report;
  if (DecodeLaneReport(bytes, report)) {
    if (!IsLaneReport(bytes)) std::abort();
    std::vector<std::byte> again(LaneReportBytes(report));
    EncodeLaneReport(report, again);
    if (again != bytes) std::abort();
  }
  return 0;
}
