// ModelScheduler with a real compiled model and real scheduler threads: batches are formed from
// concurrent requests, run once, and split back so that every request gets its own rows.
#include "scheduling/scheduler.h"

#include <gtest/gtest.h>

#include <functional>
#include <thread>

#include <condition_variable>
#include <mutex>

#include "scheduling/batch_io.h"
#include "test_models.h"

namespace onnxd::server {
namespace {

using namespace onnxd::testing;
using std::chrono::microseconds;

// Collects what Finish receives.
struct Outcome {
  std::mutex mu;
  std::condition_variable cv;
  int finished = 0;
  std::vector<uint64_t> order;  // sequence numbers in finish order
  void Wait(int n) {
    std::unique_lock<std::mutex> lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(20), [&] { return finished >= n; })) << finished << " of " << n;
  }
};

// What one job saw; owned by the test (the scheduler deletes the job after Finish).
struct Record {
  Status status;
  std::vector<Value> inputs;
  std::vector<Value> outputs;
  ExecTiming timing;
  bool ran = false;
};

struct TestJob : ScheduledJob {
  Outcome* outcome = nullptr;
  Record* record = nullptr;
  void Finish(Status st, std::vector<Value>* outs, const ExecTiming* t) override {
    Record& r = *record;
    r.status = std::move(st);
    r.inputs = inputs;
    if (outs) r.outputs = std::move(*outs);
    if (t) {
      r.timing = *t;
      r.ran = true;
    }
    std::lock_guard<std::mutex> lock(outcome->mu);
    outcome->order.push_back(sequence);
    ++outcome->finished;
    outcome->cv.notify_all();
  }
};

std::shared_ptr<const CompiledModel> Compile(const onnx::ModelProto& m) {
  static Engine engine;
  auto c = engine.CompileBytes(m.SerializeAsString(), "");
  EXPECT_TRUE(c.ok()) << c.status().message();
  return std::move(c).value();
}

BatchPolicy Batching(int64_t max_batch, int64_t delay_us) {
  BatchPolicy p;
  p.dynamic_batching = true;
  p.max_batch_size = max_batch;
  p.max_queue_delay = microseconds(delay_us);
  p.queues.emplace_back();
  return p;
}

// A job for AddReluModel (x[N,4]) with rows whose values start at `base`.
std::unique_ptr<ScheduledJob> AddReluJob(Outcome* o, int64_t rows, float base, Record* record) {
  auto j = std::make_unique<TestJob>();
  j->outcome = o;
  j->record = record;
  std::vector<float> x(static_cast<size_t>(rows * 4));
  for (size_t i = 0; i < x.size(); ++i) x[i] = base + static_cast<float>(i) * 0.5f - 3.f;
  j->inputs.emplace_back(Tensor::FromVector(x, Shape{rows, 4}));
  j->rows = rows;
  j->shape_key = {static_cast<int64_t>(DataType::kFloat), 2, 4};
  return j;
}

void ExpectAddRelu(const Record& j) {
  ASSERT_TRUE(j.status.ok()) << j.status.message();
  ASSERT_EQ(j.outputs.size(), 1u);
  const Tensor& x = j.inputs[0].tensor();
  const Tensor& y = j.outputs[0].tensor();
  ASSERT_EQ(y.shape(), x.shape()) << "each request gets back exactly its own rows";
  const float bias[4] = {1.f, -2.f, 3.f, -4.f};
  for (int64_t i = 0; i < x.num_elements(); ++i)
    EXPECT_FLOAT_EQ(y.data<float>()[i], std::max(0.f, x.data<float>()[i] + bias[i % 4])) << i;
}

// Occupies a pool thread until released, so that requests pile up in a queue meanwhile.
struct Blocker : Schedulable {
  std::mutex mu;
  std::condition_variable cv;
  bool started = false, released = false;
  void RunScheduled() override {
    std::unique_lock<std::mutex> lock(mu);
    started = true;
    cv.notify_all();
    cv.wait(lock, [&] { return released; });
  }
  void WaitStarted() {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return started; });
  }
  void Release() {
    std::lock_guard<std::mutex> lock(mu);
    released = true;
    cv.notify_all();
  }
};

TEST(ModelSchedulerTest, BatchesConcurrentRequestsAndSplitsTheOutputs) {
  WorkerPool pool(1);
  auto sched = std::make_shared<ModelScheduler>(pool, Compile(AddReluModel()), Batching(16, 200'000), 1);
  auto blocker = std::make_shared<Blocker>();
  pool.Submit(blocker);
  blocker->WaitStarted();
  Outcome o;
  std::vector<Record> jobs(4);
  const int64_t rows[] = {1, 3, 2, 4};
  for (int i = 0; i < 4; ++i) {
    auto j = AddReluJob(&o, rows[i], 10.f * i, &jobs[i]);
    ASSERT_TRUE(sched->Enqueue(j).ok());
    ASSERT_EQ(j, nullptr);
  }
  EXPECT_EQ(sched->queued(), 4u);
  blocker->Release();
  o.Wait(4);
  for (const Record& j : jobs) {
    ExpectAddRelu(j);
    EXPECT_EQ(j.timing.batch_rows, 10) << "all four requests ran as one batch of 10 rows";
    EXPECT_EQ(j.timing.batch_requests, 4u);
  }
  EXPECT_EQ(sched->stats().execution_count.load(), 1u);
  EXPECT_EQ(sched->stats().batch[10].compute_infer.count.load(), 1u);
  EXPECT_EQ(sched->stats().pending.load(), 0);
}

TEST(ModelSchedulerTest, BatchOfMaxSizeDoesNotWaitForTheDelay) {
  WorkerPool pool(2);
  auto sched = std::make_shared<ModelScheduler>(pool, Compile(AddReluModel()), Batching(2, 60'000'000), 1);
  Outcome o;
  std::vector<Record> jobs(2);
  const auto t0 = SteadyClock::now();
  for (int i = 0; i < 2; ++i) {
    auto j = AddReluJob(&o, 1, static_cast<float>(i), &jobs[i]);
    ASSERT_TRUE(sched->Enqueue(j).ok());
  }
  o.Wait(2);
  EXPECT_LT(SteadyClock::now() - t0, std::chrono::seconds(10)) << "the 60 s delay was not waited out";
  for (const Record& j : jobs) ExpectAddRelu(j);
}

TEST(ModelSchedulerTest, RunsOnEveryInstance) {
  // A model heavy enough (256x256 MatMul chain) that runs overlap when instances allow it.
  onnx::ModelProto m = NewModel(13);
  auto* g = m.mutable_graph();
  *g->add_input() = TensorInfo("x", onnx::TensorProto::FLOAT, {-1, 256});
  *g->add_output() = TensorInfo("y", onnx::TensorProto::FLOAT, {-1, 256});
  std::vector<float> w(256 * 256, 0.001f);
  *g->add_initializer() = FloatInitializer("w", {256, 256}, w);
  std::string prev = "x";
  for (int i = 0; i < 8; ++i) {
    const std::string out = i == 7 ? "y" : "h" + std::to_string(i);
    *g->add_node() = Node("MatMul", {prev, "w"}, {out}, "mm" + std::to_string(i));
    prev = out;
  }
  BatchPolicy p = Batching(1, 0);
  p.dynamic_batching = false;
  WorkerPool pool(4);
  auto sched = std::make_shared<ModelScheduler>(pool, Compile(m), p, 3);
  Outcome o;
  std::vector<Record> records(24);
  for (int i = 0; i < 24; ++i) {
    auto j = std::make_unique<TestJob>();
    j->outcome = &o;
    j->record = &records[i];
    j->inputs.emplace_back(Tensor::Allocate(DataType::kFloat, Shape{64, 256}));
    j->rows = 64;
    std::unique_ptr<ScheduledJob> q(std::move(j));
    ASSERT_TRUE(sched->Enqueue(q).ok());
  }
  o.Wait(24);
  EXPECT_GE(sched->peak_concurrency(), 2) << "with 3 instances, queued work runs on more than one at a time";
  EXPECT_LE(sched->peak_concurrency(), 3) << "never more runs than instances";
  EXPECT_EQ(sched->stats().execution_count.load(), 24u) << "no dynamic batching: one run per request";
}

TEST(ModelSchedulerTest, OneSessionPerListedGpuAndAnInstanceThatCannotRunIsNamed) {
  WorkerPool pool(1);
  // A CPU model ignores the ordinals: one working session per entry.
  auto cpu = std::make_shared<ModelScheduler>(pool, Compile(AddReluModel()), Batching(8, 0), std::vector<int>{0, 1, 0});
  EXPECT_EQ(cpu->instances(), 3);
  EXPECT_TRUE(cpu->InstancesStatus().ok()) << cpu->InstancesStatus().ToString();
  Outcome o;
  Record r;
  auto job = AddReluJob(&o, 2, 1.f, &r);
  ASSERT_TRUE(cpu->Enqueue(job).ok());
  o.Wait(1);
  ExpectAddRelu(r);

  // A CUDA model: without a GPU (CI) every instance fails, and the first is named with its GPU.
  std::string why;
  if (Engine::CudaAvailable(&why)) GTEST_SKIP() << "a GPU is present: tests/gpu covers instances on GPUs";
  static Engine engine;
  CompileOptions options;
  options.device = Device::kCuda;
  auto model = engine.CompileBytes(AddReluModel().SerializeAsString(), "", options);
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  auto gpu = std::make_shared<ModelScheduler>(pool, std::move(model).value(), Batching(8, 0), std::vector<int>{1, 0});
  Status st = gpu->InstancesStatus();
  EXPECT_EQ(st.code(), StatusCode::kUnavailable);
  EXPECT_EQ(st.message().rfind("instance 0 (GPU 1): ", 0), 0u) << st.message();
  EXPECT_NE(st.message().find(why), std::string::npos) << st.message();
}

TEST(ModelSchedulerTest, PreserveOrderingAnswersInArrivalOrder) {
  BatchPolicy p = Batching(2, 0);
  p.preserve_ordering = true;
  WorkerPool pool(4);
  auto sched = std::make_shared<ModelScheduler>(pool, Compile(AddReluModel()), p, 3);
  Outcome o;
  std::vector<Record> jobs(40);
  for (int i = 0; i < 40; ++i) {
    auto j = AddReluJob(&o, 1 + i % 2, static_cast<float>(i), &jobs[i]);
    ASSERT_TRUE(sched->Enqueue(j).ok());
  }
  o.Wait(40);
  for (size_t i = 1; i < o.order.size(); ++i) EXPECT_LT(o.order[i - 1], o.order[i]);
  for (const Record& j : jobs) ExpectAddRelu(j);
}

// A closed-loop client answers each response with its next request at once. The instance must be
// free by then, so the next request finds the model idle and runs without the 60 s queue delay.
TEST(ModelSchedulerTest, NextRequestSentFromTheResponseDoesNotWaitOutTheDelay) {
  WorkerPool pool(2);
  auto sched = std::make_shared<ModelScheduler>(pool, Compile(AddReluModel()), Batching(8, 60'000'000), 1);
  Outcome o;
  std::vector<Record> records(5);
  struct ChainJob : TestJob {
    ModelScheduler* sched = nullptr;
    std::function<void()> next;
    void Finish(Status st, std::vector<Value>* outs, const ExecTiming* t) override {
      if (next) next();
      TestJob::Finish(std::move(st), outs, t);
    }
  };
  std::function<void(int)> send = [&](int i) {
    auto j = std::make_unique<ChainJob>();
    j->outcome = &o;
    j->record = &records[static_cast<size_t>(i)];
    j->inputs.emplace_back(Tensor::FromVector(std::vector<float>{1.f, 2.f, 3.f, 4.f}, Shape{1, 4}));
    j->rows = 1;
    j->shape_key = {static_cast<int64_t>(DataType::kFloat), 2, 4};
    if (i + 1 < static_cast<int>(records.size())) j->next = [&send, i] { send(i + 1); };
    std::unique_ptr<ScheduledJob> sj(std::move(j));
    ASSERT_TRUE(sched->Enqueue(sj).ok());
  };
  const auto t0 = SteadyClock::now();
  send(0);
  o.Wait(5);
  EXPECT_LT(SteadyClock::now() - t0, std::chrono::seconds(10)) << "a follow-up request waited for the queue delay";
  for (const Record& r : records) EXPECT_TRUE(r.ran && r.status.ok()) << r.status.message();
}

// Once the model has shown itself fast, a request to the idle model is answered on the caller's
// thread before Enqueue returns; with the bound at 0 it goes through the pool.
TEST(ModelSchedulerTest, FastIdleModelRunsOnTheCallersThread) {
  WorkerPool pool(2);
  auto sched = std::make_shared<ModelScheduler>(pool, Compile(AddReluModel()), Batching(8, 1'000), 1);
  struct WhereJob : TestJob {
    std::thread::id* where = nullptr;
    void Finish(Status st, std::vector<Value>* outs, const ExecTiming* t) override {
      *where = std::this_thread::get_id();
      TestJob::Finish(std::move(st), outs, t);
    }
  };
  Outcome o;
  std::vector<Record> records(501);
  std::vector<std::thread::id> where(records.size());
  auto send = [&](size_t i) {
    auto j = std::make_unique<WhereJob>();
    j->outcome = &o;
    j->record = &records[i];
    j->where = &where[i];
    j->inputs.emplace_back(Tensor::FromVector(std::vector<float>{1.f, -2.f, 3.f, -4.f}, Shape{1, 4}));
    j->rows = 1;
    j->shape_key = {static_cast<int64_t>(DataType::kFloat), 2, 4};
    std::unique_ptr<ScheduledJob> sj(std::move(j));
    EXPECT_TRUE(sched->Enqueue(sj).ok());
  };
  // A loaded machine may make some runs slow: keep sending until one runs inline.
  size_t i = 0;
  bool inline_seen = false;
  for (; i + 1 < records.size() && !inline_seen; ++i) {
    send(i);
    o.Wait(static_cast<int>(i) + 1);
    inline_seen = where[i] == std::this_thread::get_id();
  }
  EXPECT_TRUE(inline_seen) << "no request ran on the caller's thread in " << i;
  for (size_t k = 0; k < i; ++k) ExpectAddRelu(records[k]);

  ModelScheduler::SetInlineMaxNs(0);
  send(i);
  o.Wait(static_cast<int>(i) + 1);
  ModelScheduler::SetInlineMaxNs(ModelScheduler::kInlineMaxNs);
  EXPECT_NE(where[i], std::this_thread::get_id()) << "with the bound at 0 every request goes through the pool";
  ExpectAddRelu(records[i]);
}

TEST(ModelSchedulerTest, StopAnswersQueuedRequestsAndRefusesNewOnes) {
  // The pool's one thread is held, so the job is still queued when Stop comes (an idle model
  // would otherwise dispatch it at once).
  WorkerPool pool(1);
  auto blocker = std::make_shared<Blocker>();
  pool.Submit(blocker);
  blocker->WaitStarted();
  auto sched = std::make_shared<ModelScheduler>(pool, Compile(AddReluModel()), Batching(8, 60'000'000), 1);
  Outcome o;
  Record queued, late;
  auto j = AddReluJob(&o, 1, 0.f, &queued);
  ASSERT_TRUE(sched->Enqueue(j).ok());
  sched->Stop("the model is being unloaded");
  o.Wait(1);
  blocker->Release();
  EXPECT_EQ(queued.status.code(), StatusCode::kUnavailable);
  EXPECT_FALSE(queued.ran);
  auto k = AddReluJob(&o, 1, 0.f, &late);
  Status st = sched->Enqueue(k);
  EXPECT_EQ(st.code(), StatusCode::kUnavailable);
  EXPECT_NE(k, nullptr) << "a refused job stays with the caller";
}

TEST(BatchIoTest, SplitsSequencesPerRow) {
  std::vector<Value> maps;
  for (int i = 0; i < 5; ++i)
    maps.push_back(Value::Map(Tensor::FromVector<int64_t>({0, 1}, Shape{2}),
                              Tensor::FromVector<float>({0.1f * i, 1.f - 0.1f * i}, Shape{2})));
  Value seq = Value::Sequence(std::move(maps));
  std::vector<Value> pieces;
  ASSERT_TRUE(SplitRows("probs", seq, {2, 3}, &pieces).ok());
  ASSERT_EQ(pieces.size(), 2u);
  ASSERT_EQ(pieces[0].sequence().size(), 2u);
  ASSERT_EQ(pieces[1].sequence().size(), 3u);
  EXPECT_FLOAT_EQ(pieces[1].sequence()[0].map().values.data<float>()[0], 0.2f);
  Status bad = SplitRows("probs", seq, {2, 2}, &pieces);
  EXPECT_EQ(bad.code(), StatusCode::kInternal);
  EXPECT_NE(bad.message().find("probs"), std::string::npos);
}

TEST(BatchIoTest, ConcatsStringRows) {
  Tensor a = Tensor::Allocate(DataType::kString, Shape{1, 2});
  a.data<std::string>()[0] = "a0";
  a.data<std::string>()[1] = "a1";
  Tensor b = Tensor::Allocate(DataType::kString, Shape{2, 2});
  for (int i = 0; i < 4; ++i) b.data<std::string>()[i] = "b" + std::to_string(i);
  auto c = ConcatRows({&a, &b});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->shape(), (Shape{3, 2}));
  EXPECT_EQ(c->data<std::string>()[1], "a1");
  EXPECT_EQ(c->data<std::string>()[5], "b3");
}

}  // namespace
}  // namespace onnxd::server
