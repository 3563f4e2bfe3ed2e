#include "shm/channel_file.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "gtest/gtest.h"
#include "absl/strings/str_cat.h"

namespace jobd::shm {
namespace {

std::string TempPath(const char* name) {
  return absl::StrCat(::testing::TempDir(), "/", name, "-", getpid());
}

TEST(ChannelFileTest, AttachRefusesAFileThatIsNotAChannelFileSayingWhy) {
  const std::string path = TempPath("not-channels");
  FILE* f = std::fopen(path.c_str(), "w");
  std::string junk(8192, 'j');
  std::fwrite(junk.data(), 1, junk.size(), f);
  std::fclose(f);
  auto attached = ChannelFile::Attach(path);
  EXPECT_EQ(attached.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(attached.status().message().find("not a jobd channel file"), std::string::npos);
  unlink(path.c_str());
  EXPECT_EQ(ChannelFile::Attach(path).status().code(), absl::StatusCode::kNotFound);
}

TEST(ChannelFileTest, CreateRefusesBadSizesNamingTheAllowedRange) {
  ChannelFileOptions o;
  o.path = TempPath("bad");
  o.ring_capacity = 3000;
  EXPECT_NE(ChannelFile::Create(o).status().message().find("power of two"), std::string::npos);
  o.ring_capacity = 4096;
  o.slots = 0;
  EXPECT_NE(ChannelFile::Create(o).status().message().find("allowed 1 to"), std::string::npos);
}

TEST(ChannelFileTest, SlotPastTheTableIsOutOfRange) {
  ChannelFileOptions o;
  o.path = TempPath("range");
  o.slots = 4;
  auto file = ChannelFile::Create(o);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ((*file)->Slot(4).status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_TRUE((*file)->Slot(3).ok());
  (void)(*file)->Unlink();
}

// Another process pushes numbered messages up one slot while this one echoes them down; every
// message arrives once, in order, with its bytes, through wraps and full rings and doorbells.
TEST(ChannelFileTest, TwoProcessesExchangeMessagesInOrderThroughTheRings) {
  ChannelFileOptions o;
  o.path = TempPath("pingpong");
  o.slots = 2;
  o.ring_capacity = 1024;
  auto file = ChannelFile::Create(o);
  ASSERT_TRUE(file.ok()) << file.status();
  constexpr int kMessages = 20000;
  const pid_t child = fork();
  if (child == 0) {
    auto mine = ChannelFile::Attach(o.path);
    if (!mine.ok()) _exit(2);
    ChannelSlot slot = *(*mine)->Slot(1);
    int received = 0;
    for (int sent = 0; received < kMessages;) {
      if (sent < kMessages) {
        const std::string m = absl::StrCat("message ", sent, std::string(static_cast<size_t>(sent % 50), '.'));
        absl::StatusOr<bool> ok = slot.up.TryPush(std::as_bytes(std::span(m.data(), m.size())));
        if (!ok.ok()) _exit(3);
        if (*ok) {
          ++sent;
          (*mine)->agent_bell().Ring();
          continue;
        }
      }
      std::string got;
      absl::StatusOr<bool> popped = slot.down.TryPop(
          [&](std::span<const std::byte> b) { got.assign(reinterpret_cast<const char*>(b.data()), b.size()); });
      if (!popped.ok()) _exit(4);
      if (!*popped) {
        SpinThenSleep(*slot.peer_bell, [&] { return slot.down.HasData(); }, absl::Microseconds(20),
                      absl::Milliseconds(100));
        continue;
      }
      if (got != absl::StrCat("echo ", received)) _exit(5);
      ++received;
    }
    _exit(0);
  }
  ChannelSlot slot = *(*file)->Slot(1);
  for (int i = 0; i < kMessages; ++i) {
    std::string got;
    for (;;) {
      absl::StatusOr<bool> popped = slot.up.TryPop(
          [&](std::span<const std::byte> b) { got.assign(reinterpret_cast<const char*>(b.data()), b.size()); });
      ASSERT_TRUE(popped.ok()) << popped.status();
      if (*popped) break;
      SpinThenSleep((*file)->agent_bell(), [&] { return slot.up.HasData(); }, absl::Microseconds(20),
                    absl::Milliseconds(100));
    }
    ASSERT_EQ(got, absl::StrCat("message ", i, std::string(static_cast<size_t>(i % 50), '.')));
    const std::string echo = absl::StrCat("echo ", i);
    for (;;) {
      absl::StatusOr<bool> pushed = slot.down.TryPush(std::as_bytes(std::span(echo.data(), echo.size())));
      ASSERT_TRUE(pushed.ok());
      if (*pushed) break;
      usleep(10);
    }
    slot.peer_bell->Ring();
  }
  int status = 0;
  waitpid(child, &status, 0);
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "2: attach, 3: push error, 4: pop error, 5: wrong echo";
  (void)(*file)->Unlink();
}

}  // namespace
}  // namespace jobd::shm
