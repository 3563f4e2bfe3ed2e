// Human views for jobctl: one function per view, from the admin replies. `width` and
// `max_lines` bound what a view prints (top passes the terminal's size).
#pragma once

#include <string>

#include "proto/jobd.pb.h"
#include "tools/jobctl/table.h"

namespace jobd::jobctl {

// "queue 0   live jobs 1   sessions 1 ..." on one line.
std::string FormatSummary(const v1::StatsReply& stats, size_t width = kUnlimited);
// The per-type table (counts by outcome, queue wait and run time p50/p99).
std::string FormatTypes(const v1::StatsReply& stats, size_t width = kUnlimited, size_t max_lines = kUnlimited);
// Summary, a blank line, then the per-type table: `jobctl stats`.
std::string FormatStats(const v1::StatsReply& stats);
// "arena PATH, SIZE" and occupancy per class, as bars: `jobctl slabs`.
std::string FormatSlabs(const v1::StatsReply& stats, size_t width = kUnlimited, size_t max_lines = kUnlimited);
// One line per worker, by slot: `jobctl workers`.
std::string FormatWorkers(const v1::StatsReply& stats, size_t width = kUnlimited, size_t max_lines = kUnlimited);
// One line per client session: who it is (uid and pid from the kernel) and the memory it holds.
std::string FormatSessions(const v1::StatsReply& stats, size_t width = kUnlimited, size_t max_lines = kUnlimited);
std::string FormatHealth(const v1::HealthReply& health);

}  // namespace jobd::jobctl
