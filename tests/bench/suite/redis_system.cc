// A Redis list queue, the way PHP shops do it: callers RPUSH "<reply key>|<payload>" onto one
// list, workers BLPOP it, run the handler and RPUSH the answer onto the caller's reply list,
// which the caller BLPOPs. redis-server runs on 127.0.0.1 without persistence.
#include <hiredis/hiredis.h>

#include <atomic>
#include <memory>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "tests/bench/suite/bench_system.h"
#include "tests/bench/suite/carried_batch.h"
#include "tests/bench/suite/child_process.h"

namespace jobd::bench {
namespace {

redisContext* Connect(int port) {
  for (int i = 0; i < 300; ++i) {
    redisContext* c = redisConnect("127.0.0.1", port);
    if (c != nullptr && c->err == 0) return c;
    if (c != nullptr) redisFree(c);
    absl::SleepFor(absl::Milliseconds(10));
  }
  return nullptr;
}

struct Reply {
  redisReply* r;
  explicit Reply(void* p) : r(static_cast<redisReply*>(p)) {}
  ~Reply() {
    if (r != nullptr) freeReplyObject(r);
  }
};

// Jobs are "<kind><reply key>|<payload>" where kind is 'b' (bench) or 'm' (multi: the first
// 8 bytes of the payload are the shared piece's length).
[[noreturn]] void Work(int port) {
  redisContext* c = Connect(port);
  if (c == nullptr) _exit(1);
  uint64_t sink = 0;
  for (;;) {
    Reply job(redisCommand(c, "BLPOP jobs 0"));
    if (job.r == nullptr || job.r->type != REDIS_REPLY_ARRAY) _exit(2);
    const std::string_view item(job.r->element[1]->str, job.r->element[1]->len);
    const size_t bar = item.find('|');
    const std::string_view key = item.substr(1, bar - 1);
    const std::string_view payload = item.substr(bar + 1);
    std::string answer;
    if (item[0] == 'b') {
      answer = BenchAnswer(payload, &sink);
    } else if (!AnswerPacked(payload, &sink, &answer)) {
      answer = "malformed";
    }
    Reply done(redisCommand(c, "RPUSH %b %b", key.data(), key.size(), answer.data(), answer.size()));
  }
}

std::atomic<int> next_key{0};

class RedisCaller : public Caller {
 public:
  RedisCaller(redisContext* c) : c_(c), key_(absl::StrCat("reply:", next_key.fetch_add(1))) {}
  ~RedisCaller() override { redisFree(c_); }

  absl::StatusOr<size_t> Call(std::string_view request) override {
    auto answer = RoundTrip('b', key_, request);
    if (!answer.ok()) return answer.status();
    if (absl::Status s = CheckBenchAnswer(request, *answer); !s.ok()) return s;
    return answer->size();
  }

  // No sharing in a list queue: each job carries the piece, on its own connection.
  absl::Status CallMulti(std::string_view shared, const std::vector<std::string_view>& requests) override {
    const int port = c_->tcp.port;
    return RunCarriedBatch(shared, requests, [port](std::string_view piece, std::string_view request)
                                                 -> absl::StatusOr<std::string> {
      redisContext* c = Connect(port);
      if (c == nullptr) return absl::UnavailableError("cannot connect to redis");
      RedisCaller one(c);
      return one.RoundTrip('m', one.key_, PackCarried(piece, request));
    });
  }

 private:
  absl::StatusOr<std::string> RoundTrip(char kind, const std::string& key, std::string_view payload) {
    std::string item(1, kind);
    item.append(key).append("|").append(payload);
    Reply pushed(redisCommand(c_, "RPUSH jobs %b", item.data(), item.size()));
    if (pushed.r == nullptr) return absl::UnavailableError(absl::StrCat("redis: ", c_->errstr));
    Reply got(redisCommand(c_, "BLPOP %b 0", key.data(), key.size()));
    if (got.r == nullptr || got.r->type != REDIS_REPLY_ARRAY) return absl::UnavailableError("redis: no reply");
    return std::string(got.r->element[1]->str, got.r->element[1]->len);
  }

  redisContext* c_;
  std::string key_;
};

class RedisSystem : public BenchSystem {
 public:
  std::string name() const override { return "Redis list"; }

  absl::Status Start(const SystemOptions& options) override {
    port_ = FreeLoopbackPort();
    auto server = Spawn({"/usr/bin/redis-server", "--port", std::to_string(port_), "--bind", "127.0.0.1", "--save",
                         "", "--appendonly", "no", "--loglevel", "warning", "--proto-max-bulk-len", "1gb",
                         "--client-output-buffer-limit", "normal 0 0 0"}, options.scratch_dir + "/redis.log");
    if (!server.ok()) return server.status();
    server_ = *server;
    redisContext* probe = Connect(port_);
    if (probe == nullptr) return absl::UnavailableError("redis-server did not answer");
    redisFree(probe);
    for (int w = 0; w < options.workers; ++w) workers_.push_back(ForkChild([this] { Work(port_); }));
    return absl::OkStatus();
  }

  absl::Status Attach(const std::string& address) override {
    if (!absl::SimpleAtoi(address, &port_)) return absl::InvalidArgumentError(absl::StrCat("not a port: ", address));
    return absl::OkStatus();
  }

  absl::StatusOr<std::unique_ptr<Caller>> NewCaller() override {
    redisContext* c = Connect(port_);
    if (c == nullptr) return absl::UnavailableError("cannot connect to redis");
    return std::unique_ptr<Caller>(new RedisCaller(c));
  }

  void Stop() override {
    for (pid_t w : workers_) StopChild(w);
    workers_.clear();
    StopChild(server_);
    server_ = 0;
  }

  size_t max_request() const override { return size_t{512} << 20; }
  pid_t server_pid() const override { return server_; }
  std::vector<pid_t> worker_pids() const override { return workers_; }
  std::string address() const override { return std::to_string(port_); }

 private:
  int port_ = 0;
  pid_t server_ = 0;
  std::vector<pid_t> workers_;
};

}  // namespace

std::unique_ptr<BenchSystem> MakeRedisSystem() { return std::make_unique<RedisSystem>(); }

}  // namespace jobd::bench
