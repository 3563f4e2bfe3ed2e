// Human tables for jobctl: one function per view, from the admin replies.
#pragma once

#include <string>

#include "proto/jobd.pb.h"

namespace jobd::jobctl {

std::string FormatStats(const v1::StatsReply& stats);    // per-type table and totals
std::string FormatSlabs(const v1::StatsReply& stats);    // occupancy per class, as bars
std::string FormatWorkers(const v1::StatsReply& stats);  // one line per worker
std::string FormatHealth(const v1::HealthReply& health);

}  // namespace jobd::jobctl
