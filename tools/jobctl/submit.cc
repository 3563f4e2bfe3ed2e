// jobctl submit TYPE: one job through the client SDK, as a service would send it.
#include <fstream>
#include <iostream>
#include <iterator>

#include "absl/strings/str_cat.h"
#include "client/job_client.h"
#include "tools/jobctl/commands.h"
#include "tools/jobctl/json_views.h"

namespace jobd::jobctl {

int Submit(const Options& o, const std::string& type, const std::string& data, const std::string& file) {
  std::string payload;
  if (!data.empty()) {
    payload = data;
  } else if (!file.empty()) {
    std::ifstream in(file, std::ios::binary);
    if (!in) return Fail("cannot read " + file);
    payload.assign(std::istreambuf_iterator<char>(in), {});
  } else {
    payload.assign(std::istreambuf_iterator<char>(std::cin), {});
  }
  SubmitResult result{.type = type};
  const absl::Time start = absl::Now();
  auto elapsed_us = [&] { return absl::ToInt64Microseconds(absl::Now() - start); };
  auto failed = [&](std::string outcome, const absl::Status& status) {
    result.outcome = std::move(outcome);
    result.message = std::string(status.message());
    result.elapsed_us = elapsed_us();
    if (o.json) {
      std::cout << SubmitJson(result);
      return 1;
    }
    return Fail(result.job_id == 0 ? "could not start: " + status.ToString()
                                   : absl::StrCat("job ", result.job_id, " ", result.outcome, ": ", status.ToString()));
  };
  auto client = client::JobClient::Connect({.socket_path = o.socket, .client_name = "jobctl"});
  if (!client.ok()) return failed("unavailable", client.status());
  auto future = (*client)->Start(type, payload, {.timeout = o.timeout});
  if (!future.ok()) return failed(std::string(client::JobOutcomeName(client::OutcomeOf(future.status()))), future.status());
  result.job_id = future->id();
  auto response = future->Wait();
  if (!response.ok()) {
    return failed(std::string(client::JobOutcomeName(client::OutcomeOf(response.status()))), response.status());
  }
  result.outcome = "ok";
  result.elapsed_us = elapsed_us();
  if (o.json) {
    result.response = absl::string_view(response->view().data(), response->view().size());
    std::cout << SubmitJson(result) << std::flush;
    return 0;
  }
  std::cout.write(response->view().data(), static_cast<std::streamsize>(response->size()));
  if (!response->view().empty() && response->view().back() != '\n') std::cout << "\n";
  std::cout << std::flush;
  std::cerr << "job " << result.job_id << " ok: " << response->size() << " bytes in "
            << absl::FormatDuration(absl::Microseconds(result.elapsed_us)) << "\n";
  return 0;
}

}  // namespace jobd::jobctl
