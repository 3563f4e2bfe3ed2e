// A hostile client for hostile_client_test: it drops to another uid in the socket's group and
// does to jobd everything a buggy or malicious local client could, for `seconds`:
//   - looks for any other session's memory: the run dir, /dev/shm, /proc/*/fd and map_files of
//     every process; counts what it managed to open (the test wants 0);
//   - presents made-up tokens on the side socket;
//   - in its own segments: rewrites the arena header (counts, offsets), the state words (every
//     slab "owned" by the agent's id 1 and by ids no session has), the ring indices, writes past
//     the end of its slabs, submits forged handles (every class, index and generation), the same
//     handle twice, a 16 KB job type, an absurd retry backoff, as messages and as records, and
//     records that are noise after the magic;
//   - opens a session that never reads its channel while its jobs complete (a slow peer);
//   - with HOSTILE_LANES=1 in its environment, only this, over and over: takes a worker's lease
//     and feeds its lane garbage: bytes that are no record, jobs of forged handles, of types
//     the lease may not name, with absurd timeouts and contexts, the same request slab twice;
//     then scribbles on its segment, lane ring indices included.
// Prints "found N" (other sessions' memory opened), "lanes N" (leases it got) and "attacks N"
// and exits 0.
//   hostile_client SOCKET SECONDS [UID GID]
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "proto/ring_messages.h"
#include "shm/fd_passing.h"
#include "shm/internal/arena_layout.h"
#include "tests/integration/raw_session.h"

namespace {

using jobd::testing::RawSession;
namespace v1 = jobd::v1;

int found = 0;
int lanes = 0;
long attacks = 0;

// Any descriptor or file this process can open that maps shared memory of jobd's, other than
// what it was given: the agent's fds, other clients' fds, anything in /dev/shm or the run dir.
void LookForOthersMemory(const std::string& run_dir) {
  auto try_open = [](const std::string& path) {
    const int fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) return;
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
      void* p = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
      if (p != MAP_FAILED) {
        ++found;
        std::fprintf(stderr, "hostile: mapped %s\n", path.c_str());
        munmap(p, 4096);
      }
    }
    close(fd);
  };
  for (const std::string& dir : {run_dir, std::string("/dev/shm")}) {
    if (DIR* d = opendir(dir.c_str())) {
      while (dirent* e = readdir(d)) try_open(dir + "/" + e->d_name);
      closedir(d);
    }
  }
  const std::string self = std::to_string(getpid());
  if (DIR* procs = opendir("/proc")) {
    while (dirent* p = readdir(procs)) {
      if (p->d_name[0] < '0' || p->d_name[0] > '9' || self == p->d_name) continue;
      for (const char* sub : {"/fd", "/map_files"}) {
        const std::string dir = absl::StrCat("/proc/", p->d_name, sub);
        if (DIR* d = opendir(dir.c_str())) {
          while (dirent* e = readdir(d)) {
            if (e->d_name[0] != '.') try_open(dir + "/" + e->d_name);
          }
          closedir(d);
        }
      }
    }
    closedir(procs);
  }
}

void ForgeTokens(const std::string& side, std::mt19937_64& rng) {
  for (int i = 0; i < 20; ++i) {
    auto fd = jobd::shm::ConnectUnix(side);
    if (!fd.ok()) continue;
    std::string token(16, '\0');
    for (char& c : token) c = static_cast<char>(rng());
    (void)jobd::shm::SendRecord(fd->get(), std::as_bytes(std::span(token.data(), token.size())), {});
    auto r = jobd::shm::ReceiveRecord(fd->get(), absl::Milliseconds(200));
    if (r.ok() && !r->fds.empty()) {
      ++found;
      std::fprintf(stderr, "hostile: a made-up token got descriptors\n");
    }
    ++attacks;
  }
}

v1::Submit Forged(std::mt19937_64& rng, uint32_t seq) {
  v1::Submit m;
  m.set_seq(seq);
  m.set_type("echo");
  m.mutable_request()->set_handle(rng());
  m.mutable_request()->set_size(rng() % 5000);
  return m;
}

void Scribble(RawSession& s, std::mt19937_64& rng) {
  std::span<std::byte> seg = s.SegmentBytes();
  // Everything: header, rings, the arena header and state words, slab bytes.
  for (int i = 0; i < 64; ++i) seg[rng() % seg.size()] = static_cast<std::byte>(rng());
  ++attacks;
}

// A session that takes a lease (one job through the agent first), then attacks its own lane.
void AttackLane(const std::string& socket, std::mt19937_64& rng, uint32_t& seq) {
  RawSession s(socket, "hostile-lane", /*lanes=*/true);
  if (!s.ok() || !s.Send(s.Echo(seq++, "lease me"))) return;
  bool open = false;
  const absl::Time until = absl::Now() + absl::Seconds(2);
  while (!open && absl::Now() < until) {
    std::optional<v1::AgentMessage> m = s.PopDown(absl::Milliseconds(200));
    open = m.has_value() && m->has_lane_open();
  }
  if (!open) return;  // the victims keep every worker busy: no lease this time
  ++lanes;
  jobd::shm::ChannelSlot lane = s.lane();
  // As the SDK writes a lane job (proto/lane_records.h), so that each lie reaches the worker's
  // checks rather than its decoder.
  auto push = [&](const v1::Submit& m) {
    (void)jobd::wire::PushLaneJob(lane.up, m.seq(), m.type(), {m.request().handle(), m.request().size()},
                                  m.timeout_ms(), 0, m.context());
    lane.peer_bell->Ring();
    ++attacks;
  };
  for (int i = 0; i < 20; ++i) push(Forged(rng, seq++));
  v1::Submit other_type = s.Echo(seq++, "x");
  other_type.set_type("crash");  // served by the worker, perhaps not named by the lease
  push(other_type);
  v1::Submit long_timeout = s.Echo(seq++, "x");
  long_timeout.set_timeout_ms(~uint64_t{0});
  push(long_timeout);
  v1::Submit big_context = s.Echo(seq++, "x");
  (*big_context.mutable_context())["k"] = std::string(20000, 'c');
  push(big_context);
  v1::Submit twice = s.Echo(seq++, "twice");
  push(twice);
  twice.set_seq(seq++);
  push(twice);
  // Bytes that are no message at all, then the ring's own indices.
  for (int i = 0; i < 10; ++i) {
    const size_t n = 1 + rng() % 200;
    (void)lane.up.TryPushWith(n, [&](std::span<std::byte> out) {
      for (std::byte& b : out) b = static_cast<std::byte>(rng());
    });
    lane.peer_bell->Ring();
    ++attacks;
  }
  absl::SleepFor(absl::Milliseconds(20));
  for (int i = 0; i < 20; ++i) Scribble(s, rng);
  lane.peer_bell->Ring();
  absl::SleepFor(absl::Milliseconds(20));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3 && argc != 5) return 2;
  const std::string socket = argv[1];
  const absl::Duration duration = absl::Seconds(std::atoi(argv[2]));
  if (argc == 5) {
    const gid_t gid = static_cast<gid_t>(std::atoi(argv[4]));
    if (setgroups(1, &gid) != 0 || setgid(gid) != 0 || setuid(static_cast<uid_t>(std::atoi(argv[3]))) != 0) {
      std::perror("hostile: dropping privileges");
      return 3;
    }
  }
  const std::string run_dir = socket.substr(0, socket.rfind('/'));
  std::mt19937_64 rng(42);
  if (const char* mode = std::getenv("HOSTILE_LANES"); mode != nullptr && std::string(mode) == "1") {
    const absl::Time until = absl::Now() + duration;
    uint32_t seq = 1;
    while (absl::Now() < until) AttackLane(socket, rng, seq);
    std::printf("found %d\nlanes %d\nattacks %ld\n", found, lanes, attacks);
    std::fflush(stdout);
    return 0;
  }
  LookForOthersMemory(run_dir);
  ForgeTokens(run_dir + "/jobd.side.sock", rng);

  // A slow peer: many jobs, never reads its channel.
  RawSession slow(socket, "hostile-slow");
  if (slow.ok()) {
    // Small answers: each takes a 4 KiB slab of its own, so stop before the segment is full.
    for (uint32_t i = 1; i <= 4000; ++i) {
      v1::Submit m = slow.Echo(i, "x");
      if (m.request().handle() == 0) m.set_type("size");  // no slab left: an empty request
      if (!slow.Send(m)) break;
      ++attacks;
    }
  }

  const absl::Time until = absl::Now() + duration;
  uint32_t seq = 1;
  while (absl::Now() < until) {
    RawSession s(socket, "hostile");
    if (!s.ok()) {
      absl::SleepFor(absl::Milliseconds(50));
      continue;
    }
    jobd::shm::Arena& arena = s.arena();
    // Every slab taken under the agent's id and under ids nobody has, then the session ends.
    for (int i = 0; i < 64; ++i) (void)arena.Allocate(4096, rng() % 2 == 0 ? 1 : 1000000 + rng() % 1000);
    // A real job whose slab is then written past its end and freed behind the agent's back.
    v1::Submit real = s.Echo(seq++, "mine");
    auto view = arena.Resolve(jobd::shm::Handle::FromBits(real.request().handle()), 4);
    if (view.ok()) std::memset(view->data(), 'Z', 8192);  // past the 4 KiB slab, into the next
    (void)s.Send(real);
    absl::SleepFor(absl::Milliseconds(1));
    (void)arena.Free(jobd::shm::Handle::FromBits(real.request().handle()), 1);
    real.set_seq(seq++);
    (void)s.Send(real);  // the same slab again, as a new job
    for (int i = 0; i < 50; ++i) (void)s.Send(Forged(rng, seq++));
    // The same as the SDK's records.
    for (int i = 0; i < 50; ++i) (void)s.SendRecord(Forged(rng, seq++));
    attacks += 50;
    v1::Submit big_type = s.Echo(seq++, "x");
    big_type.set_type(std::string(16000, 'T'));  // the most a ring message can carry is 32 KiB
    (void)s.Send(big_type);
    v1::Submit backoff = s.Echo(seq++, "x");
    backoff.mutable_retry()->set_max_attempts(3);
    backoff.mutable_retry()->set_backoff_ms(0xFFFFFFFFu);
    (void)s.Send(backoff);
    attacks += 55;
    // Records that only claim to be one: the magic, then noise. The first ends the session, so
    // they come after everything the agent is to refuse one by one.
    for (int i = 0; i < 5; ++i) {
      std::vector<std::byte> noise(4 + rng() % 200);
      for (auto& b : noise) b = static_cast<std::byte>(rng());
      const uint32_t magic = 0x53536a00;  // proto/session_records.h's SubmitRecord
      std::memcpy(noise.data(), &magic, sizeof magic);
      (void)s.PushBytes(noise);
    }
    attacks += 5;
    // Its own arena header: counts to zero, offsets out of the file; then more forged handles.
    std::span<std::byte> seg = s.SegmentBytes();
    const size_t arena_at = seg.size() - arena.mapped_bytes();
    auto* h = reinterpret_cast<jobd::shm::internal::ArenaHeader*>(seg.data() + arena_at);
    for (auto& c : h->classes) {
      c.count = 0;
      c.states_offset = ~uint64_t{0};
      c.data_offset = 1;
      c.free_hint = rng();
    }
    for (int i = 0; i < 50; ++i) (void)s.Send(Forged(rng, seq++));
    for (int i = 0; i < 20; ++i) Scribble(s, rng);
    s.WakeAgent();
    absl::SleepFor(absl::Milliseconds(20));
  }
  std::printf("found %d\nlanes %d\nattacks %ld\n", found, lanes, attacks);
  std::fflush(stdout);
  return 0;
}
