#include "loader/model_loader.h"

#include <google/protobuf/io/coded_stream.h>

#include <climits>
#include <fstream>
#include <functional>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "loader/tensor_proto.h"

namespace onnxd::engine {
namespace {

constexpr int kMaxInlineDepth = 32;

StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return NotFound("cannot open model file '" + path + "'");
  std::stringstream ss;
  ss << f.rdbuf();
  if (f.bad()) return InvalidArgument("cannot read model file '" + path + "'");
  return ss.str();
}

std::string DirName(const std::string& path) {
  auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// Loads external data of every tensor in the graph (initializers, Constant attributes, subgraphs).
Status ResolveExternalData(onnx::GraphProto* g, const std::string& base_dir);

Status ResolveTensor(onnx::TensorProto* t, const std::string& base_dir) {
  if (t->data_location() != onnx::TensorProto::EXTERNAL) return Status::Ok();
  Tensor x;
  ASSIGN_OR_RETURN(x, TensorFromProto(*t, base_dir));
  t->clear_external_data();
  t->set_data_location(onnx::TensorProto::DEFAULT);
  t->set_raw_data(x.raw_data(), x.bytes());
  return Status::Ok();
}

Status ResolveAttributes(onnx::NodeProto* n, const std::string& base_dir) {
  for (auto& a : *n->mutable_attribute()) {
    if (a.has_t()) RETURN_IF_ERROR(ResolveTensor(a.mutable_t(), base_dir));
    for (auto& t : *a.mutable_tensors()) RETURN_IF_ERROR(ResolveTensor(&t, base_dir));
    if (a.has_g()) RETURN_IF_ERROR(ResolveExternalData(a.mutable_g(), base_dir));
    for (auto& g : *a.mutable_graphs()) RETURN_IF_ERROR(ResolveExternalData(&g, base_dir));
  }
  return Status::Ok();
}

Status ResolveExternalData(onnx::GraphProto* g, const std::string& base_dir) {
  for (auto& t : *g->mutable_initializer()) RETURN_IF_ERROR(ResolveTensor(&t, base_dir));
  for (auto& n : *g->mutable_node()) RETURN_IF_ERROR(ResolveAttributes(&n, base_dir));
  return Status::Ok();
}

// ---- Function inlining ----

struct FunctionKey {
  std::string domain, name;
  bool operator==(const FunctionKey& o) const { return domain == o.domain && name == o.name; }
};
struct FunctionKeyHash {
  size_t operator()(const FunctionKey& k) const { return std::hash<std::string>()(k.domain + "\x1f" + k.name); }
};
using FunctionTable = std::unordered_map<FunctionKey, const onnx::FunctionProto*, FunctionKeyHash>;

class Inliner {
 public:
  explicit Inliner(const FunctionTable& fns) : fns_(fns) {}

  Status InlineGraph(onnx::GraphProto* g, int depth) {
    if (depth > kMaxInlineDepth) return InvalidArgument("model-local functions nest too deeply (recursive?)");
    google::protobuf::RepeatedPtrField<onnx::NodeProto> out;
    for (auto& node : *g->mutable_node()) {
      for (auto& a : *node.mutable_attribute()) {
        if (a.has_g()) RETURN_IF_ERROR(InlineGraph(a.mutable_g(), depth));
        for (auto& sg : *a.mutable_graphs()) RETURN_IF_ERROR(InlineGraph(&sg, depth));
      }
      auto it = fns_.find({CanonicalDomain(node.domain()), node.op_type()});
      if (it == fns_.end()) {
        *out.Add() = std::move(node);
        continue;
      }
      RETURN_IF_ERROR(Expand(node, *it->second, &out, depth));
    }
    g->mutable_node()->Swap(&out);
    return Status::Ok();
  }

 private:
  Status Expand(const onnx::NodeProto& call, const onnx::FunctionProto& fn,
                google::protobuf::RepeatedPtrField<onnx::NodeProto>* out, int depth) {
    const std::string where = "node '" + call.name() + "' (" + call.op_type() + ", model-local function)";
    if (call.input_size() > fn.input_size())
      return InvalidArgument(where + ": " + std::to_string(call.input_size()) + " inputs, the function takes " +
                             std::to_string(fn.input_size()));
    if (call.output_size() > fn.output_size())
      return InvalidArgument(where + ": too many outputs");
    std::unordered_map<std::string, std::string> rename;
    for (int i = 0; i < fn.input_size(); ++i) rename[fn.input(i)] = i < call.input_size() ? call.input(i) : "";
    for (int i = 0; i < fn.output_size(); ++i)
      rename[fn.output(i)] = i < call.output_size() ? call.output(i) : "";
    std::unordered_map<std::string, const onnx::AttributeProto*> attrs;
    for (const auto& a : call.attribute()) attrs[a.name()] = &a;
    const std::string prefix = "__fn" + std::to_string(counter_++) + "_";

    onnx::GraphProto body;
    for (const auto& n : fn.node()) {
      onnx::NodeProto copy = n;
      RETURN_IF_ERROR(Substitute(&copy, attrs, where));
      *body.add_node() = std::move(copy);
    }
    // Names defined inside the body get a unique prefix; formal parameters map to actuals.
    std::function<void(onnx::GraphProto*, bool)> rename_graph = [&](onnx::GraphProto* g, bool top) {
      for (auto& n : *g->mutable_node()) {
        for (auto& o : *n.mutable_output()) {
          if (o.empty()) continue;
          if (top && rename.count(o)) o = rename[o];
          else if (!rename.count(o)) { rename[o] = prefix + o; o = rename[o]; }
          else o = rename[o];
        }
      }
      for (auto& n : *g->mutable_node()) {
        for (auto& in : *n.mutable_input()) {
          auto r = rename.find(in);
          if (r != rename.end()) in = r->second;
        }
        for (auto& a : *n.mutable_attribute()) {
          if (a.has_g()) rename_graph(a.mutable_g(), false);
          for (auto& sg : *a.mutable_graphs()) rename_graph(&sg, false);
        }
      }
      if (!top) {
        for (auto& o : *g->mutable_output()) {
          auto r = rename.find(o.name());
          if (r != rename.end()) o.set_name(r->second);
        }
      }
    };
    rename_graph(&body, true);
    RETURN_IF_ERROR(InlineGraph(&body, depth + 1));
    for (auto& n : *body.mutable_node()) *out->Add() = std::move(n);
    return Status::Ok();
  }

  // Replaces attributes that reference the caller's (ref_attr_name) and recurses into subgraphs.
  Status Substitute(onnx::NodeProto* n, const std::unordered_map<std::string, const onnx::AttributeProto*>& attrs,
                    const std::string& where) {
    google::protobuf::RepeatedPtrField<onnx::AttributeProto> kept;
    for (auto& a : *n->mutable_attribute()) {
      if (!a.ref_attr_name().empty()) {
        auto it = attrs.find(a.ref_attr_name());
        if (it == attrs.end()) continue;  // not given by the caller: the op's default applies
        onnx::AttributeProto v = *it->second;
        v.set_name(a.name());
        *kept.Add() = std::move(v);
        continue;
      }
      if (a.has_g()) {
        for (auto& sn : *a.mutable_g()->mutable_node()) RETURN_IF_ERROR(Substitute(&sn, attrs, where));
      }
      *kept.Add() = std::move(a);
    }
    n->mutable_attribute()->Swap(&kept);
    return Status::Ok();
  }

  const FunctionTable& fns_;
  int counter_ = 0;
};

Status CheckGraph(const onnx::GraphProto& g, int depth) {
  if (depth > 64) return InvalidArgument("subgraphs nest too deeply");
  for (const auto& n : g.node()) {
    if (n.op_type().empty()) return InvalidArgument("node '" + n.name() + "' has no op_type");
    for (const auto& a : n.attribute()) {
      if (a.name().empty()) return InvalidArgument("node '" + n.name() + "' (" + n.op_type() + ") has an unnamed attribute");
      if (a.has_g()) RETURN_IF_ERROR(CheckGraph(a.g(), depth + 1));
      for (const auto& sg : a.graphs()) RETURN_IF_ERROR(CheckGraph(sg, depth + 1));
    }
  }
  return Status::Ok();
}

}  // namespace

StatusOr<std::unique_ptr<onnx::ModelProto>> ParseModelBytes(const std::string& bytes) {
  auto model = std::make_unique<onnx::ModelProto>();
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(bytes.data()),
                                            static_cast<int>(std::min<size_t>(bytes.size(), INT_MAX)));
  in.SetTotalBytesLimit(INT_MAX);
  if (bytes.size() > static_cast<size_t>(INT_MAX))
    return InvalidArgument("model file is over 2 GB: store weights as external data");
  if (!model->ParseFromCodedStream(&in) || !in.ConsumedEntireMessage())
    return InvalidArgument("not a valid ONNX model: the protobuf does not parse (truncated or corrupt file?)");
  if (!model->has_graph()) return InvalidArgument("not a valid ONNX model: no graph");
  return model;
}

StatusOr<std::unique_ptr<LoadedModel>> LoadModelBytes(const std::string& bytes, const std::string& base_dir) {
  std::unique_ptr<onnx::ModelProto> proto;
  ASSIGN_OR_RETURN(proto, ParseModelBytes(bytes));
  auto lm = std::make_unique<LoadedModel>();
  lm->proto = std::move(*proto);
  lm->base_dir = base_dir;
  const auto& m = lm->proto;
  if (m.ir_version() < 3) {
    if (m.opset_import_size() == 0)
      return InvalidArgument("IR version " + std::to_string(m.ir_version()) + " model without opset_import");
  }
  if (m.opset_import_size() == 0) return InvalidArgument("model has no opset_import");
  for (const auto& o : m.opset_import()) {
    if (o.version() <= 0) return InvalidArgument("opset_import for domain '" + o.domain() + "' has version " + std::to_string(o.version()));
    lm->opsets[CanonicalDomain(o.domain())] = o.version();
  }
  RETURN_IF_ERROR(CheckGraph(m.graph(), 0));
  // Check that each node's domain is imported.
  std::function<Status(const onnx::GraphProto&)> check_domains = [&](const onnx::GraphProto& g) -> Status {
    for (const auto& n : g.node()) {
      std::string d = CanonicalDomain(n.domain());
      bool is_fn = false;
      for (const auto& f : m.functions())
        if (CanonicalDomain(f.domain()) == d && f.name() == n.op_type()) is_fn = true;
      if (!is_fn && !lm->opsets.count(d))
        return InvalidArgument("node '" + n.name() + "' (" + n.op_type() + ") uses domain '" + n.domain() +
                               "' that the model does not import (missing opset_import)");
      for (const auto& a : n.attribute()) {
        if (a.has_g()) RETURN_IF_ERROR(check_domains(a.g()));
        for (const auto& sg : a.graphs()) RETURN_IF_ERROR(check_domains(sg));
      }
    }
    return Status::Ok();
  };
  RETURN_IF_ERROR(check_domains(m.graph()));

  RETURN_IF_ERROR(ResolveExternalData(lm->proto.mutable_graph(), base_dir));
  if (m.functions_size() > 0) {
    FunctionTable fns;
    for (const auto& f : m.functions()) {
      for (const auto& o : f.opset_import())
        if (!lm->opsets.count(CanonicalDomain(o.domain()))) lm->opsets[CanonicalDomain(o.domain())] = o.version();
      fns[{CanonicalDomain(f.domain()), f.name()}] = &f;
    }
    Inliner inliner(fns);
    RETURN_IF_ERROR(inliner.InlineGraph(lm->proto.mutable_graph(), 0));
  }
  return lm;
}

StatusOr<std::unique_ptr<LoadedModel>> LoadModelFile(const std::string& path) {
  std::string bytes;
  ASSIGN_OR_RETURN(bytes, ReadFile(path));
  return LoadModelBytes(bytes, DirName(path));
}

}  // namespace onnxd::engine
