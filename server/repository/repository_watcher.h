// RepositoryWatcher: --model-control-mode poll. Follows the repository folder and tells the model
// manager which models to load, reload or unload. Changes count only once the files are stable:
// a model's fingerprint (every file's path, size and mtime under its folder) must be the same in two
// looks in a row, so that a model still being copied in is never loaded. Watching uses inotify
// where the kernel has it (a look follows each burst of events after a settle interval) and polls
// every --repository-poll-secs in any case (network file systems send no events).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <thread>

namespace onnxd::server {

// Fingerprint of one folder tree: path, size and mtime of every entry (hash; 0 when unreadable).
uint64_t TreeFingerprint(const std::string& dir);

class RepositoryWatcher {
 public:
  enum class Change { kAdded, kModified, kRemoved };
  using Callback = std::function<void(const std::string& model, Change change)>;

  // `poll`: the longest time between two looks; `settle`: the time between the two looks that
  // confirm a change (and after an inotify event).
  RepositoryWatcher(std::string root, std::chrono::milliseconds poll, std::chrono::milliseconds settle,
                    Callback on_change);
  ~RepositoryWatcher();  // Stop()
  RepositoryWatcher(const RepositoryWatcher&) = delete;
  RepositoryWatcher& operator=(const RepositoryWatcher&) = delete;

  // Takes the first look (what is there now counts as loaded) and starts the watching thread.
  void Start();
  void Stop();
  bool using_inotify() const { return inotify_fd_ >= 0; }

  // One look, then act on what is stable (the thread's step; public for tests). Returns true when
  // some change is still settling (look again after `settle`).
  bool LookOnce();

 private:
  void Loop();
  void AddWatches();

  const std::string root_;
  const std::chrono::milliseconds poll_, settle_;
  const Callback on_change_;
  std::map<std::string, uint64_t> acted_;     // fingerprints the manager was told about
  std::map<std::string, uint64_t> previous_;  // the last look
  int inotify_fd_ = -1;
  int stop_pipe_[2] = {-1, -1};
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace onnxd::server
