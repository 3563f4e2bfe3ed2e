#include "shm/size_classes.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "shm/handle.h"

namespace jobd::shm {
namespace {

constexpr size_t kMaxClassCount = 32;  // the arena's class table

absl::StatusOr<uint64_t> ParseSize(absl::string_view text) {
  std::string t = absl::AsciiStrToUpper(absl::StripAsciiWhitespace(text));
  uint64_t mult = 1;
  for (const auto& [suffix, m] : std::vector<std::pair<std::string, uint64_t>>{
           {"KIB", 1ull << 10}, {"MIB", 1ull << 20}, {"GIB", 1ull << 30}, {"K", 1ull << 10},
           {"M", 1ull << 20},   {"G", 1ull << 30},   {"B", 1}}) {
    if (t.size() > suffix.size() && t.compare(t.size() - suffix.size(), suffix.size(), suffix) == 0) {
      t.resize(t.size() - suffix.size());
      mult = m;
      break;
    }
  }
  uint64_t n = 0;
  if (!absl::SimpleAtoi(t, &n)) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", std::string(text), "' is not a size (e.g. 4096, 4K, 64KiB, 1M, 1G)"));
  }
  if (n > (uint64_t{1} << 40) / mult) {
    return absl::InvalidArgumentError(
        absl::StrCat("size '", std::string(text), "' is too large; a slab is at most 1 TiB"));
  }
  return n * mult;
}

}  // namespace

absl::StatusOr<std::vector<SizeClass>> ParseSizeClasses(std::string_view spec_in) {
  // Debian's Abseil has its own string_view type.
  const absl::string_view spec(spec_in.data(), spec_in.size());
  std::vector<SizeClass> classes;
  const std::string trimmed(absl::StripAsciiWhitespace(spec));
  if (trimmed.empty()) {
    return absl::InvalidArgumentError("empty size-class list; expected size:count,... e.g. 4K:1024,64K:256,1M:8");
  }
  for (absl::string_view item : absl::StrSplit(trimmed, ',')) {
    std::vector<absl::string_view> parts = absl::StrSplit(item, ':');
    if (parts.size() != 2) {
      return absl::InvalidArgumentError(
          absl::StrCat("size class '", std::string(item), "' is not size:count (e.g. 64K:256)"));
    }
    auto size = ParseSize(parts[0]);
    if (!size.ok()) return size.status();
    uint64_t count = 0;
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(parts[1]), &count)) {
      return absl::InvalidArgumentError(
          absl::StrCat("count '", std::string(parts[1]), "' in '", std::string(item), "' is not a number"));
    }
    if (*size == 0 || *size % 64 != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("slab size ", *size, " in '", std::string(item), "' must be a positive multiple of 64"));
    }
    if (count == 0 || count > uint64_t{Handle::kMaxIndex} + 1) {
      return absl::InvalidArgumentError(absl::StrCat("count ", count, " in '", std::string(item),
                                                     "' is out of range; allowed 1 to ", Handle::kMaxIndex + 1));
    }
    classes.push_back({*size, static_cast<uint32_t>(count)});
  }
  std::sort(classes.begin(), classes.end(), [](const SizeClass& a, const SizeClass& b) { return a.slab_size < b.slab_size; });
  for (size_t i = 1; i < classes.size(); ++i) {
    if (classes[i].slab_size == classes[i - 1].slab_size) {
      return absl::InvalidArgumentError(absl::StrCat("slab size ", HumanBytes(classes[i].slab_size),
                                                     " appears twice; each size once"));
    }
  }
  if (classes.size() > kMaxClassCount) {
    return absl::InvalidArgumentError(
        absl::StrCat(classes.size(), " size classes; at most ", kMaxClassCount, " are allowed"));
  }
  return classes;
}

std::vector<SizeClass> DefaultSizeClasses(int workers) {
  const uint64_t n = static_cast<uint64_t>(std::max(1, workers));
  std::vector<SizeClass> classes = {{4ull << 10, static_cast<uint32_t>(64 * n)},
                                    {64ull << 10, static_cast<uint32_t>(16 * n)}};
  // KPHP's scheme: 8 MiB per process, spread by these weights over 128 KiB ... 64 MiB.
  constexpr int kWeights[] = {2, 2, 2, 2, 1, 1, 1, 1, 1, 1};
  constexpr int kWeightSum = 14;
  const uint64_t budget = n * (8ull << 20);
  for (int i = 0; i < 10; ++i) {
    const uint64_t size = (128ull << 10) << i;
    const uint64_t count = budget * kWeights[i] / kWeightSum / size;
    // Unlike KPHP, every class keeps at least one slab so that any payload up to 64 MiB fits.
    // The file is sparse on tmpfs: a slab nobody has written costs no memory.
    classes.push_back({size, static_cast<uint32_t>(std::max<uint64_t>(1, count))});
  }
  return classes;
}

absl::StatusOr<std::vector<SizeClass>> FitSizeClasses(const std::vector<SizeClass>& classes, uint64_t budget) {
  auto total = [](const std::vector<SizeClass>& cs) {
    uint64_t t = 0;
    for (const SizeClass& c : cs) t += c.slab_size * c.count;
    return t;
  };
  std::vector<SizeClass> out;
  for (const SizeClass& c : classes) {
    if (c.slab_size <= budget) out.push_back(c);
  }
  if (out.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("a budget of ", HumanBytes(budget), " holds no slab of ",
                                                   classes.empty() ? "any class" : HumanBytes(classes[0].slab_size)));
  }
  const uint64_t before = total(out);
  if (before > budget) {
    for (SizeClass& c : out) {
      c.count = static_cast<uint32_t>(std::max<uint64_t>(1, static_cast<unsigned __int128>(c.count) * budget / before));
    }
  }
  while (total(out) > budget && out.size() > 1) out.pop_back();
  if (total(out) > budget) out[0].count = static_cast<uint32_t>(std::max<uint64_t>(1, budget / out[0].slab_size));
  return out;
}

std::string FormatSizeClasses(const std::vector<SizeClass>& classes) {
  std::vector<std::string> items;
  for (const SizeClass& c : classes) {
    std::string size = c.slab_size % (1ull << 20) == 0   ? absl::StrCat(c.slab_size >> 20, "M")
                       : c.slab_size % (1ull << 10) == 0 ? absl::StrCat(c.slab_size >> 10, "K")
                                                         : absl::StrCat(c.slab_size);
    items.push_back(absl::StrCat(size, ":", c.count));
  }
  return absl::StrJoin(items, ",");
}

std::string DescribeSizeClasses(const std::vector<SizeClass>& classes) {
  std::string out = absl::StrFormat("  %-10s %8s %12s\n", "slab", "count", "bytes");
  uint64_t total = 0;
  uint32_t slabs = 0;
  for (const SizeClass& c : classes) {
    absl::StrAppend(&out, absl::StrFormat("  %-10s %8d %12s\n", HumanBytes(c.slab_size), c.count,
                                          HumanBytes(c.slab_size * c.count)));
    total += c.slab_size * c.count;
    slabs += c.count;
  }
  absl::StrAppend(&out, absl::StrFormat("  %-10s %8d %12s", "total", slabs, HumanBytes(total)));
  return out;
}

std::string HumanBytes(uint64_t bytes) {
  if (bytes >= (1ull << 30) && bytes % (1ull << 30) == 0) return absl::StrCat(bytes >> 30, " GiB");
  if (bytes >= (1ull << 20) && bytes % (1ull << 20) == 0) return absl::StrCat(bytes >> 20, " MiB");
  if (bytes >= (1ull << 10) && bytes % (1ull << 10) == 0) return absl::StrCat(bytes >> 10, " KiB");
  if (bytes >= (1ull << 20)) return absl::StrFormat("%.1f MiB", bytes / double(1ull << 20));
  if (bytes >= (1ull << 10)) return absl::StrFormat("%.1f KiB", bytes / double(1ull << 10));
  return absl::StrCat(bytes, " B");
}

}  // namespace jobd::shm
