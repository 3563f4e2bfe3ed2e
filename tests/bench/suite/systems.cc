#include "tests/bench/suite/bench_system.h"

namespace jobd::bench {

std::unique_ptr<BenchSystem> MakeSystem(const std::string& id) {
  if (id == "jobd") return MakeJobdSystem();
  if (id == "grpc") return MakeGrpcUnarySystem();
  if (id == "redis") return MakeRedisSystem();
  if (id == "gearman") return MakeGearmanSystem();
  if (id == "raw") return MakeRawEchoSystem();
  if (id == "lanes") return MakeShmLanesSystem();
  if (id == "relay") return MakeShmRelaySystem();
  if (id == "direct") return MakeShmDirectSystem();
  return nullptr;
}

}  // namespace jobd::bench
