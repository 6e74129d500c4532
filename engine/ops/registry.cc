// The op registry: every op family registers here, explicitly and once (STYLE.md point 3).
#include <algorithm>

#include "ops/op_kernel.h"

namespace onnxd::engine {

namespace {
std::string Key(const std::string& domain, const std::string& op) {
  return (domain == "ai.onnx" ? std::string() : domain) + ":" + op;
}

OpRegistry BuildRegistry() {
  OpRegistry r;
  RegisterElementwiseOps(r);
  RegisterActivationOps(r);
  RegisterMathOps(r);
  RegisterNnOps(r);
  RegisterReductionOps(r);
  RegisterShapeOps(r);
  RegisterTensorOps(r);
  RegisterMlOps(r);
  RegisterControlFlowOps(r);
  RegisterSequenceOps(r);
  RegisterQuantizationOps(r);
  RegisterContribQuantOps(r);
  RegisterAttentionOps(r);
  RegisterImageOps(r);
  RegisterRnnOps(r);
  RegisterLossOps(r);
  RegisterStringOps(r);
  RegisterDetectionOps(r);
  RegisterSignalOps(r);
  RegisterConvVariantOps(r);
  RegisterImageDecoderOps(r);
  return r;
}
}  // namespace

const OpRegistry& OpRegistry::Global() {
  static const OpRegistry registry = BuildRegistry();
  return registry;
}

void OpRegistry::Add(const std::string& domain, const std::string& op_type, KernelFactory factory, int since_version) {
  std::string key = Key(domain, op_type);
  auto it = std::lower_bound(entries_.begin(), entries_.end(), key,
                             [](const auto& e, const std::string& k) { return e.first < k; });
  if (it == entries_.end() || it->first != key) it = entries_.insert(it, {key, {}});
  it->second.push_back({since_version, std::move(factory)});
  std::sort(it->second.begin(), it->second.end(),
            [](const Entry& a, const Entry& b) { return a.since_version < b.since_version; });
}

const KernelFactory* OpRegistry::Find(const std::string& domain, const std::string& op_type, int opset) const {
  std::string key = Key(domain, op_type);
  auto it = std::lower_bound(entries_.begin(), entries_.end(), key,
                             [](const auto& e, const std::string& k) { return e.first < k; });
  if (it == entries_.end() || it->first != key) return nullptr;
  const KernelFactory* best = nullptr;
  for (const Entry& e : it->second)
    if (e.since_version <= opset || opset <= 0) best = &e.factory;
  return best;
}

bool OpRegistry::Has(const std::string& domain, const std::string& op_type) const {
  return Find(domain, op_type, 1 << 20) != nullptr;
}

std::vector<std::string> OpRegistry::OpNames() const {
  std::vector<std::string> names;
  for (const auto& e : entries_) names.push_back(e.first);
  return names;
}

}  // namespace onnxd::engine
