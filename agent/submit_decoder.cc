#include "agent/submit_decoder.h"

#include "absl/strings/str_cat.h"

namespace jobd::agent {

absl::StatusOr<coordinator::JobRequest> DecodeSubmit(coordinator::SessionId session, const v1::Submit& s) {
  if (s.seq() == 0) return absl::InvalidArgumentError("seq must not be 0");
  if (!v1::Policy_IsValid(s.policy())) {
    return absl::InvalidArgumentError(absl::StrCat("unknown policy ", s.policy(), "; allowed 0..2"));
  }
  if (!v1::Priority_IsValid(s.priority())) {
    return absl::InvalidArgumentError(absl::StrCat("unknown priority ", s.priority(), "; allowed 0..1"));
  }
  if (s.timeout_ms() > uint64_t{365} * 24 * 3600 * 1000) {
    return absl::InvalidArgumentError(absl::StrCat("timeout_ms ", s.timeout_ms(), " is absurd"));
  }
  // Every duration has a bound, so no job can sit in a backoff nobody will see end.
  constexpr uint32_t kMaxBackoffMs = 10 * 60 * 1000;
  if (s.retry().backoff_ms() > kMaxBackoffMs) {
    return absl::InvalidArgumentError(
        absl::StrCat("retry.backoff_ms ", s.retry().backoff_ms(), ": allowed 0 to ", kMaxBackoffMs, " (10 min)"));
  }
  coordinator::JobRequest r;
  r.id = coordinator::MakeJobId(session, s.seq());
  r.session = session;
  r.type = s.type();
  r.request = {shm::Handle::FromBits(s.request().handle()), s.request().size()};
  r.shared = {shm::Handle::FromBits(s.shared().handle()), s.shared().size()};
  r.timeout = absl::Milliseconds(static_cast<int64_t>(s.timeout_ms()));
  r.policy = static_cast<coordinator::Policy>(s.policy());
  r.priority = static_cast<coordinator::Priority>(s.priority());
  r.context.insert(s.context().begin(), s.context().end());
  if (s.has_retry() && s.retry().max_attempts() > 1) {
    r.retry.max_attempts = s.retry().max_attempts();
    r.retry.backoff = absl::Milliseconds(s.retry().backoff_ms());
    r.retry.retry_handler_errors = s.retry().retry_handler_errors();
  }
  r.trace.client_sent_ns = s.stamps().client_sent_ns();
  return r;
}

void SubmitOfRecord(const wire::SubmitRecord& record, v1::Submit& out) {
  const wire::SubmitFixed& f = record.fixed;
  out.set_seq(f.seq);
  out.set_type(record.type);
  out.mutable_request()->set_handle(f.request.handle);
  out.mutable_request()->set_size(f.request.size);
  out.mutable_shared()->set_handle(f.shared.handle);
  out.mutable_shared()->set_size(f.shared.size);
  out.set_timeout_ms(f.timeout_ms);
  out.set_policy(static_cast<v1::Policy>(f.policy));
  out.set_priority(static_cast<v1::Priority>(f.priority));
  out.mutable_context()->clear();
  for (const auto& [key, value] : record.context) (*out.mutable_context())[key] = value;
  out.mutable_retry()->set_max_attempts(f.retry_max_attempts);
  out.mutable_retry()->set_backoff_ms(f.retry_backoff_ms);
  out.mutable_retry()->set_retry_handler_errors(f.retry_handler_errors);
  out.mutable_stamps()->set_client_sent_ns(f.client_sent_ns);
}

}  // namespace jobd::agent
