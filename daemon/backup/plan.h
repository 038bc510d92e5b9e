// Where the service's archives are, and what retention keeps and deletes
// of them, locally and in the bucket (the retention planner, retention.h,
// over the local scan and the bucket's listing). No I/O here: the run
// lists and deletes, these functions decide.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "backup/local_dir.h"
#include "backup/retention.h"
#include "backup/s3_client.h"
#include "core/config.h"

namespace privstack::backup {

// backup.retention as the planner's policy.
RetentionPolicy policy_of(const Config& c);

// The plan for the local directory: its good archives (an unreadable one is
// neither kept nor deleted: "ignored").
RetentionPlan local_plan(const std::vector<LocalArchive>& archives, const Config& c);

// What the next run's prune does with `archives`: the local plan as if that
// run's archive, made at `next_run` (Unix seconds; the newest archive's time
// if that is later), already existed. An archive the preview keeps now may
// be deleted then (keep_last moves on, the day's newest changes); the
// listing says so beforehand. The next run's own archive is not in the
// plan's decisions.
RetentionPlan next_run_plan(const std::vector<LocalArchive>& archives, const Config& c, std::int64_t next_run);

// backup.s3.prefix with a trailing '/' (empty when none): the service's
// archives are "<prefix><id>.psbak".
std::string s3_prefix(const Config& c);
// "<bucket>/<prefix>": which listing a cached one is.
std::string bucket_label(const Config& c);

// The archives among `objects` (the service's own names directly under
// the prefix; anything else in the bucket is not ours to list or prune).
std::vector<S3Object> archive_objects(const Config& c, std::vector<S3Object> objects);

// The plan for the bucket, from `archives` (archive_objects() of a listing
// under `prefix`): each object's time is the one in its name (an object
// whose name holds none is neither kept nor deleted). Only `uploaded`, the
// archive just uploaded and verified, is known good; keys name times in
// whole seconds, and among equal times it is the newest.
RetentionPlan remote_plan(const std::vector<S3Object>& archives, const std::string& prefix,
                          const std::string& uploaded, const RetentionPolicy& policy);

// What a prune deletes: the plan's deletions, never `spared` (the archive
// the run has just made).
std::vector<std::string> deletions(const RetentionPlan& plan, const std::string& spared);

}  // namespace privstack::backup
