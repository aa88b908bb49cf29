// The fused unit's autograd node in C++: a served CPU signature's call without Python forward or backward.
//
// adaptact_native::prepare records, once per call signature, what kernels/fused.py's FusedUnit does on
// each call of it: the four C kernels' addresses (from the ctypes-loaded library of the program), the
// layout of the input, and the packing of the parameters (kernels/fused.py Gather). adaptact_native::call
// then runs forward and backward entirely here:
//   forward:  theta = pack(params) (G x W float32), y = kernel(x; theta), saving x and the parameters only;
//   backward: (dx, dtheta) = kernel'(x, dy; theta), each parameter's gradient unpacked from dtheta.
// A call whose packing computes (normalised blend weights) has its theta made here per call with autograd, by
// the torch operations of the Python packing (blend_theta below), and gets dtheta back (autograd takes it on
// through the packing; a caller may also pass a theta made in Python); a stochastic program's call passes
// its seed (the kernels draw their noise from it, forward and backward alike).
// The arithmetic is that of the Python node (the same kernels, the same packing and unpacking), so both give
// the same bits. A backward run with a graph (create_graph=True) calls adaptact_native::reference_vjp, which
// is implemented in Python (kernels/native_node.py) by the reference function, as FusedUnit does.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/library.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

namespace {

using FwdRows = void (*)(const float*, float*, const float*, int64_t, int64_t, int64_t, uint64_t, int);
using BwdRows = void (*)(const float*, const float*, const float*, float*, double*, int64_t, int64_t, int64_t,
                         uint64_t, int);
using FwdCols = void (*)(const float*, float*, const float*, int64_t, int64_t, uint64_t, int);
using BwdCols = void (*)(const float*, const float*, const float*, float*, double*, int64_t, int64_t, uint64_t, int);

// A blend's weight normalisation (functional.blend_weights); Given: the call passes theta itself.
enum class Norm { Given, None, Sum, Abs, Pos, Softmax };

Norm norm_of(const std::string& name) {
  if (name.empty()) return Norm::Given;
  if (name == "none") return Norm::None;
  if (name == "sum") return Norm::Sum;
  if (name == "abs") return Norm::Abs;
  if (name == "pos") return Norm::Pos;
  if (name == "softmax") return Norm::Softmax;
  TORCH_CHECK(false, "adaptact_native: unknown normalization '", name, "'");
}

// What every call of one signature shares (immutable once registered).
struct Prepared {
  FwdRows fwd_rows;
  BwdRows bwd_rows;
  FwdCols fwd_cols;
  BwdCols bwd_cols;
  bool columns;  // the column layout: rows x length = N x (C L), each column with its channel's parameters
  int64_t rows, length, channels;
  int64_t groups, width;       // theta is groups x width
  int64_t x_index;             // which tensor of the call is the input
  std::vector<int64_t> sizes;  // each tensor's number of elements (0 for the input)
  int64_t single;              // the only parameter tensor when theta is that tensor itself; -1 otherwise
  bool identity;               // theta is the parameters' concatenation (else gathered by index)
  at::Tensor index;            // int64 gather index (defined when not identity)
  bool theta_input;            // theta is made per call (no gather: its packing computes)
  // How theta is made when the call passes none (theta_input only): a blend's weights normalised and packed
  // with its basis parameters, as kernels/lowering.py blend_theta does, by the same torch operations.
  Norm norm;
  int64_t weights, params;  // their tensors' indices (params: -1 when the blend has none)
  double tiny;              // the "pos" normalisation's floor of the sum (functional._TINY)
};

// The registry: a handle indexes a fixed table of immutable entries that live as long as the process (a
// call reads its entry without a lock; registration alone is serialised). Python registers at most
// kernels/native_node.py's HANDLE_LIMIT signatures, this table's size.
constexpr int64_t kMaxHandles = int64_t{1} << 16;
std::atomic<const Prepared*> registry[kMaxHandles];
std::atomic<int64_t> registered{0};
std::mutex registering;

const Prepared* prepared(int64_t handle) {
  TORCH_CHECK(handle >= 0 && handle < registered.load(std::memory_order_acquire), "adaptact_native: unknown handle ",
              handle);
  return registry[handle].load(std::memory_order_acquire);
}

at::Tensor as_float32(const at::Tensor& t) {
  return t.scalar_type() == at::kFloat && t.is_contiguous() ? t : t.to(at::kFloat).contiguous();
}

// Whether every parameter tensor of the call is float32 and contiguous (then packing and unpacking copy
// their floats directly, without a tensor operation per parameter).
bool plain_parameters(const Prepared& p, const at::TensorList& tensors) {
  for (int64_t i = 0; i < static_cast<int64_t>(tensors.size()); ++i)
    if (i != p.x_index && (tensors[i].scalar_type() != at::kFloat || !tensors[i].is_contiguous())) return false;
  return true;
}

at::Tensor pack(const Prepared& p, const at::TensorList& tensors) {
  if (p.single >= 0) {
    const at::Tensor& t = tensors[p.single];
    if (t.scalar_type() == at::kFloat && t.is_contiguous()) return t.view({p.groups, p.width});
  }
  if (p.identity && plain_parameters(p, tensors)) {  // the concatenation, as one copy per parameter
    at::Tensor theta = at::empty({p.groups, p.width}, tensors[p.x_index].options().dtype(at::kFloat));
    float* to = theta.data_ptr<float>();
    for (int64_t i = 0; i < static_cast<int64_t>(tensors.size()); ++i) {
      if (i == p.x_index) continue;
      std::memcpy(to, tensors[i].data_ptr<float>(), sizeof(float) * static_cast<size_t>(p.sizes[i]));
      to += p.sizes[i];
    }
    return theta;
  }
  std::vector<at::Tensor> parts;
  for (int64_t i = 0; i < static_cast<int64_t>(tensors.size()); ++i)
    if (i != p.x_index) parts.push_back(as_float32(tensors[i]).view(-1));
  at::Tensor flat = parts.size() == 1 ? parts[0] : at::cat(parts);
  if (!p.identity) flat = flat.index_select(0, p.index);
  return flat.view({p.groups, p.width});
}

// The column layout's width x (C L) table: each channel's parameters repeated over its positions.
at::Tensor table_of(const Prepared& p, const at::Tensor& theta) {
  return theta.t().unsqueeze(-1).expand({p.width, p.groups, p.length / p.groups}).reshape({p.width, p.length})
      .contiguous();
}

at::Tensor run_forward(const Prepared& p, const at::Tensor& x, const at::Tensor& theta, uint64_t seed) {
  at::Tensor xin = as_float32(x);
  at::Tensor y = at::empty_like(xin);
  const int threads = at::get_num_threads();
  if (p.columns) {
    at::Tensor table = table_of(p, theta);
    p.fwd_cols(xin.data_ptr<float>(), y.data_ptr<float>(), table.data_ptr<float>(), p.rows, p.length, seed,
               threads);
  } else {
    p.fwd_rows(xin.data_ptr<float>(), y.data_ptr<float>(), theta.data_ptr<float>(), p.rows, p.length, p.channels,
               seed, threads);
  }
  return y.scalar_type() == x.scalar_type() ? y : y.to(x.scalar_type());
}

// Whether the node makes a computed theta itself, outside autograd, and differentiates it in its own backward
// (blend_backward): the softmax (AdAct, ABU-softmax), whose gradient is torch's own softmax backward kernel.
// The other normalisations are made with autograd (call below), as the Python packing makes them.
bool node_normalizes(Norm norm) { return norm == Norm::Softmax; }

// A blend's packed parameters, with autograd: the operations of kernels/lowering.py blend_theta (weights to
// float32, functional.blend_weights, then _pack: each part to float32, reshaped to G rows, concatenated), so
// that values and gradients have the bits of the Python packing.
at::Tensor blend_theta(const Prepared& p, const at::TensorList& tensors) {
  at::Tensor w = tensors[p.weights].to(at::kFloat);
  static const int64_t kLast[] = {-1};
  const at::IntArrayRef last(kLast, 1);  // the last axis (an array that outlives the reference)
  switch (p.norm) {
    case Norm::Sum: w = w / w.sum(last, true); break;
    case Norm::Abs: w = w / w.abs().sum(last, true); break;
    case Norm::Pos: {
      at::Tensor pos = w.clamp(at::Scalar(0));
      w = pos / pos.sum(last, true).clamp(at::Scalar(p.tiny));
      break;
    }
    case Norm::Softmax: w = at::softmax(w, -1); break;
    default: break;
  }
  std::vector<at::Tensor> cols{w.to(at::kFloat).reshape({p.groups, -1})};
  if (p.params >= 0) cols.push_back(tensors[p.params].to(at::kFloat).reshape({p.groups, -1}));
  return at::cat(cols, 1);
}

// The gradients of a blend's weights and basis parameters from dtheta, the (groups, width) float64 sums, for a
// theta the node made (node_normalizes): autograd's steps through blend_theta's operations, in its order (the
// sums rounded to float32, cat's slices, view's reshapes, softmax's backward kernel on softmax's output, which is
// theta's weight columns, and the conversions back), so the bits are those of the autograd path.
std::pair<at::Tensor, at::Tensor> blend_backward(const Prepared& p, const at::TensorList& tensors, const at::Tensor& theta,
                                                 const at::Tensor& dtheta, bool need_weights, bool need_params) {
  const at::Tensor& weights = tensors[p.weights];
  const int64_t nw = weights.numel() / p.groups;
  at::Tensor d = dtheta.to(at::kFloat);
  at::Tensor dw, dp;
  if (need_weights) {
    dw = at::_softmax_backward_data(d.narrow(1, 0, nw).reshape(weights.sizes()),
                                    theta.narrow(1, 0, nw).reshape(weights.sizes()), -1, at::kFloat);
    if (dw.scalar_type() != weights.scalar_type()) dw = dw.to(weights.scalar_type());
  }
  if (need_params && p.params >= 0) {
    const at::Tensor& params = tensors[p.params];
    dp = d.narrow(1, nw, p.width - nw).reshape(params.sizes());
    if (dp.scalar_type() != params.scalar_type()) dp = dp.to(params.scalar_type());
  }
  return {dw, dp};
}

// (dx as float32 or undefined, dtheta as the (groups, width) float64 sums or undefined) of a prepared call.
std::pair<at::Tensor, at::Tensor> run_backward(const Prepared& p, const at::Tensor& x, const at::Tensor& dy,
                                               const at::Tensor& theta, uint64_t seed, bool need_x, bool need_theta) {
  at::Tensor xin = as_float32(x);
  at::Tensor dyin = as_float32(dy.scalar_type() == x.scalar_type() ? dy : dy.to(x.scalar_type()));
  at::Tensor dx = need_x ? at::empty_like(xin) : at::Tensor();
  float* dx_ptr = need_x ? dx.data_ptr<float>() : nullptr;
  const int threads = at::get_num_threads();
  at::Tensor dtheta;
  if (p.columns) {
    at::Tensor table = table_of(p, theta);
    at::Tensor dtable = need_theta ? at::zeros_like(table, table.options().dtype(at::kDouble)) : at::Tensor();
    p.bwd_cols(xin.data_ptr<float>(), dyin.data_ptr<float>(), table.data_ptr<float>(), dx_ptr,
               need_theta ? dtable.data_ptr<double>() : nullptr, p.rows, p.length, seed, threads);
    if (need_theta) dtheta = dtable.view({dtable.size(0), p.channels, -1}).sum(-1).t();
  } else {
    if (need_theta) dtheta = at::zeros_like(theta, theta.options().dtype(at::kDouble));
    p.bwd_rows(xin.data_ptr<float>(), dyin.data_ptr<float>(), theta.data_ptr<float>(), dx_ptr,
               need_theta ? dtheta.data_ptr<double>() : nullptr, p.rows, p.length, p.channels, seed, threads);
  }
  return {dx, dtheta};
}

struct FusedNode : public torch::autograd::Function<FusedNode> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, int64_t handle, int64_t seed,
                            const c10::optional<at::Tensor>& theta_in, at::TensorList tensors) {
    const Prepared* p = prepared(handle);
    TORCH_CHECK(static_cast<int64_t>(tensors.size()) == static_cast<int64_t>(p->sizes.size()),
                "adaptact_native: the call has ", tensors.size(), " tensors, its signature ", p->sizes.size());
    const bool given = theta_in.has_value() && theta_in->defined();
    const bool made = !given && p->theta_input && node_normalizes(p->norm);  // theta made here (blend_backward)
    TORCH_CHECK(given == (p->theta_input && !made), "adaptact_native: this signature ",
                p->theta_input ? "needs its theta" : "packs its own theta");
    if (given)
      TORCH_CHECK(theta_in->dim() == 2 && theta_in->size(0) == p->groups && theta_in->size(1) == p->width,
                  "adaptact_native: theta of shape ", theta_in->sizes(), ", the signature's is (", p->groups, ", ",
                  p->width, ")");
    at::Tensor theta;
    if (given) {
      theta = as_float32(*theta_in);
    } else if (made) {
      at::NoGradGuard off;
      theta = blend_theta(*p, tensors);
    } else {
      theta = pack(*p, tensors);
    }
    at::Tensor y = run_forward(*p, tensors[p->x_index], theta, static_cast<uint64_t>(seed));
    ctx->save_for_backward(tensors.vec());
    ctx->saved_data["handle"] = handle;
    ctx->saved_data["seed"] = seed;
    ctx->saved_data["packed"] = theta;
    ctx->saved_data["made"] = made;
    if (given) ctx->saved_data["theta_dtype"] = static_cast<int64_t>(theta_in->scalar_type());
    return y;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const int64_t handle = ctx->saved_data["handle"].toInt();
    const Prepared* p = prepared(handle);
    const int64_t seed = ctx->saved_data["seed"].toInt();
    std::vector<at::Tensor> tensors = ctx->get_saved_variables();
    const int64_t n = static_cast<int64_t>(tensors.size());
    const bool made = ctx->saved_data["made"].toBool();
    const bool given = p->theta_input && !made;
    const int64_t first = given ? 1 : 0;  // the tensors' first edge (theta's is 0 when given)
    std::vector<bool> needed(n);
    for (int64_t i = 0; i < n; ++i) needed[i] = ctx->needs_input_grad(first + i);
    const bool need_theta_in = given && ctx->needs_input_grad(0);
    // out: one per argument (handle, seed, theta, then each tensor), undefined where there is no gradient
    constexpr int64_t T = 3;
    torch::autograd::variable_list out(n + T);
    const at::Tensor& dy = grads[0];
    if (at::GradMode::is_enabled()) {  // create_graph=True: differentiate the reference (in Python)
      int64_t mask = 0;
      for (int64_t i = 0; i < n; ++i) mask |= needed[i] ? (int64_t{1} << i) : 0;
      static auto vjp = c10::Dispatcher::singleton()
                            .findSchemaOrThrow("adaptact_native::reference_vjp", "")
                            .typed<std::tuple<std::vector<at::Tensor>, int64_t>(int64_t, int64_t, at::TensorList,
                                                                                const at::Tensor&, int64_t)>();
      auto [found, present] = vjp.call(handle, seed, tensors, dy, mask);
      size_t next = 0;
      for (int64_t i = 0; i < n; ++i)
        if (present & (int64_t{1} << i)) out[T + i] = found[next++];
      return out;  // the reference's gradients reach the tensors directly (none through theta)
    }
    const at::Tensor& x = tensors[p->x_index];
    const bool need_x = needed[p->x_index];
    bool need_theta = need_theta_in;
    for (int64_t i = 0; i < n && !given; ++i) need_theta = need_theta || (i != p->x_index && needed[i]);
    at::Tensor theta = ctx->saved_data["packed"].toTensor();
    auto [dx, dtheta] = run_backward(*p, x, dy, theta, static_cast<uint64_t>(seed), need_x, need_theta);
    if (need_theta && made) {
      auto [dw, dp] = blend_backward(*p, tensors, theta, dtheta, needed[p->weights], p->params >= 0 && needed[p->params]);
      if (dw.defined()) out[T + p->weights] = dw;
      if (dp.defined()) out[T + p->params] = dp;
    } else if (need_theta && p->theta_input) {
      const auto dtype = static_cast<at::ScalarType>(ctx->saved_data["theta_dtype"].toInt());
      at::Tensor d = dtheta.to(at::kFloat);
      out[2] = d.scalar_type() == dtype ? d : d.to(dtype);
    } else if (need_theta && p->identity && plain_parameters(*p, tensors)) {
      // each needed parameter's gradient rounded from its slice of the float64 sums (as .to(float) rounds)
      at::Tensor sums = dtheta.contiguous();
      const double* from = sums.data_ptr<double>();
      for (int64_t i = 0; i < n; ++i) {
        if (i == p->x_index) continue;
        if (needed[i]) {
          at::Tensor g = at::empty(tensors[i].sizes(), tensors[i].options());
          float* to = g.data_ptr<float>();
          for (int64_t k = 0; k < p->sizes[i]; ++k) to[k] = static_cast<float>(from[k]);
          out[T + i] = g;
        }
        from += p->sizes[i];
      }
    } else if (need_theta) {
      at::Tensor flat = dtheta.to(at::kFloat).contiguous().view(-1);
      if (!p->identity) {
        int64_t total = 0;
        for (int64_t s : p->sizes) total += s;
        flat = at::zeros({total}, flat.options()).index_add_(0, p->index, flat);
      }
      int64_t offset = 0;
      for (int64_t i = 0; i < n; ++i) {
        if (i == p->x_index) continue;
        at::Tensor piece = flat.narrow(0, offset, p->sizes[i]);
        offset += p->sizes[i];
        if (!needed[i]) continue;
        piece = piece.view(tensors[i].sizes());
        out[T + i] = piece.scalar_type() == tensors[i].scalar_type() ? piece : piece.to(tensors[i].scalar_type());
      }
    }
    if (need_x) out[T + p->x_index] = dx.scalar_type() == x.scalar_type() ? dx : dx.to(x.scalar_type());
    return out;
  }
};

int64_t prepare(int64_t fwd_rows, int64_t bwd_rows, int64_t fwd_cols, int64_t bwd_cols, bool columns, int64_t rows,
                int64_t length, int64_t channels, int64_t groups, int64_t width, int64_t x_index,
                c10::IntArrayRef sizes, int64_t single, bool identity, const c10::optional<at::Tensor>& index,
                bool theta_input, const std::string& normalization, int64_t weights, int64_t params, double tiny) {
  TORCH_CHECK(x_index >= 0 && x_index < static_cast<int64_t>(sizes.size()), "adaptact_native: x_index out of range");
  TORCH_CHECK(theta_input || identity || (index.has_value() && index->scalar_type() == at::kLong),
              "adaptact_native: a gather needs its int64 index");
  TORCH_CHECK(!columns || (groups > 0 && length % groups == 0), "adaptact_native: a column layout needs C | length");
  auto p = std::make_unique<Prepared>();
  p->fwd_rows = reinterpret_cast<FwdRows>(fwd_rows);
  p->bwd_rows = reinterpret_cast<BwdRows>(bwd_rows);
  p->fwd_cols = reinterpret_cast<FwdCols>(fwd_cols);
  p->bwd_cols = reinterpret_cast<BwdCols>(bwd_cols);
  p->columns = columns;
  p->rows = rows;
  p->length = length;
  p->channels = channels;
  p->groups = groups;
  p->width = width;
  p->x_index = x_index;
  p->sizes = sizes.vec();
  p->single = single;
  p->identity = identity;
  p->theta_input = theta_input;
  p->norm = norm_of(normalization);
  const int64_t count = static_cast<int64_t>(sizes.size());
  TORCH_CHECK(p->norm == Norm::Given || (theta_input && weights >= 0 && weights < count && weights != x_index &&
                                         params >= -1 && params < count && params != x_index && params != weights),
              "adaptact_native: a computed theta needs its weights' (and basis parameters') tensor indices");
  p->weights = weights;
  p->params = params;
  p->tiny = tiny;
  if (!identity && !theta_input) p->index = index->contiguous();
  std::lock_guard<std::mutex> hold(registering);
  const int64_t handle = registered.load(std::memory_order_relaxed);
  TORCH_CHECK(handle < kMaxHandles, "adaptact_native: ", kMaxHandles, " signatures prepared, no room for more");
  registry[handle].store(p.release(), std::memory_order_release);
  registered.store(handle + 1, std::memory_order_release);
  return handle;
}

// The packed parameters of a call: passed, computed (a blend's normalised weights: with autograd where grad mode
// is on, as in call; off in the kernel entries below), or packed.
at::Tensor theta_of(const Prepared& p, const c10::optional<at::Tensor>& theta, const at::TensorList& tensors) {
  TORCH_CHECK(static_cast<int64_t>(tensors.size()) == static_cast<int64_t>(p.sizes.size()),
              "adaptact_native: the call has ", tensors.size(), " tensors, its signature ", p.sizes.size());
  if (theta.has_value() && theta->defined()) return as_float32(*theta);
  if (p.norm != Norm::Given) return blend_theta(p, tensors);
  TORCH_CHECK(!p.theta_input, "adaptact_native: this signature needs its theta");
  return pack(p, tensors);
}

// A stochastic call's seed from torch's default CPU generator, as kernels/fused.py draw_seed's
// torch.randint(0, 2**62, (1,)) draws it (one 64-bit draw modulo the range; the same state afterwards), without
// a tensor or Python per call.
int64_t draw_seed() {
  auto* gen = at::check_generator<at::CPUGeneratorImpl>(at::detail::getDefaultCPUGenerator());
  std::lock_guard<std::mutex> hold(gen->mutex_);
  return static_cast<int64_t>(gen->random64() % (uint64_t{1} << 62));
}

// seed < 0: draw it here (draw_seed)
at::Tensor call(int64_t handle, int64_t seed, const c10::optional<at::Tensor>& theta, at::TensorList tensors) {
  const Prepared* p = prepared(handle);
  if (seed < 0) seed = draw_seed();
  if (p->norm != Norm::Given && !node_normalizes(p->norm) && !(theta.has_value() && theta->defined()))
    return FusedNode::apply(handle, seed, c10::optional<at::Tensor>(theta_of(*p, theta, tensors)), tensors);  // autograd
  return FusedNode::apply(handle, seed, theta, tensors);
}

// The compiled graph's kernels (kernels/custom_ops.py): a prepared call's y, and its (dx, dtheta) with dtheta as
// the packed (groups, width) float32 gradient, outside autograd (the graph differentiates the packing itself).
at::Tensor kernel_forward(int64_t handle, int64_t seed, const c10::optional<at::Tensor>& theta,
                          at::TensorList tensors) {
  at::NoGradGuard off;
  const Prepared* p = prepared(handle);
  return run_forward(*p, tensors[p->x_index], theta_of(*p, theta, tensors), static_cast<uint64_t>(seed));
}

std::tuple<at::Tensor, at::Tensor> kernel_backward(int64_t handle, int64_t seed, const c10::optional<at::Tensor>& theta,
                                                   at::TensorList tensors, const at::Tensor& dy) {
  at::NoGradGuard off;
  const Prepared* p = prepared(handle);
  const at::Tensor& x = tensors[p->x_index];
  auto [dx, dtheta] = run_backward(*p, x, dy, theta_of(*p, theta, tensors), static_cast<uint64_t>(seed), true, true);
  return {dx.scalar_type() == x.scalar_type() ? dx : dx.to(x.scalar_type()), dtheta.to(at::kFloat).contiguous()};
}

// ---- Compiled graphs: the CPU kernels of kernels/custom_ops.py's adaptact::fused_forward / fused_backward ----
// A graph names a fused call by its token (family and options) and passes its tensors; the first call of each
// (token, tensor sizes and dtypes) asks Python for the C++ handle of that signature (adaptact::_native_handle:
// a handle, -1 for none, -2 for "not now", which is not remembered), every later one finds it here and runs the
// kernels without Python. A call without a handle runs the Python body (adaptact::_opaque_forward/backward).

std::atomic<bool> graph_enabled{true};  // kernels/native_node.py set_enabled
// executions: forward, backward, and those of them that ran by a handle (kernels/custom_ops.py calls())
std::atomic<int64_t> graph_calls[4];
std::mutex graph_lock;
std::unordered_map<std::string, int64_t> graph_handles;  // (token, sizes, dtypes) -> handle or -1
constexpr size_t kGraphLimit = 4096;                     // beyond it the table starts again

std::string graph_key(c10::string_view token, const at::TensorList& tensors) {
  std::string key(token.data(), token.size());
  for (const at::Tensor& t : tensors) {
    key += '|';
    key += std::to_string(static_cast<int>(t.scalar_type()));
    for (int64_t s : t.sizes()) {
      key += ',';
      key += std::to_string(s);
    }
  }
  return key;
}

int64_t graph_handle(c10::string_view token, const at::TensorList& tensors) {
  if (!graph_enabled.load(std::memory_order_relaxed)) return -1;
  std::string key = graph_key(token, tensors);
  {
    std::lock_guard<std::mutex> hold(graph_lock);
    auto found = graph_handles.find(key);
    if (found != graph_handles.end()) return found->second;
  }
  static auto resolve = c10::Dispatcher::singleton()
                            .findSchemaOrThrow("adaptact::_native_handle", "")
                            .typed<int64_t(at::TensorList, c10::string_view)>();
  const int64_t handle = resolve.call(tensors, token);
  if (handle < -1) return -1;  // not now (the node still loading its kernels): ask again next call
  std::lock_guard<std::mutex> hold(graph_lock);
  if (graph_handles.size() >= kGraphLimit) graph_handles.clear();
  graph_handles.emplace(std::move(key), handle);
  return handle;
}

int64_t seed_of(const at::Tensor& seed) { return seed.contiguous().data_ptr<int64_t>()[0]; }

at::Tensor graph_forward(at::TensorList tensors, c10::string_view token, const at::Tensor& seed) {
  graph_calls[0].fetch_add(1, std::memory_order_relaxed);
  const int64_t handle = graph_handle(token, tensors);
  if (handle >= 0) {
    graph_calls[2].fetch_add(1, std::memory_order_relaxed);
    return kernel_forward(handle, seed_of(seed), c10::nullopt, tensors);
  }
  static auto opaque = c10::Dispatcher::singleton()
                           .findSchemaOrThrow("adaptact::_opaque_forward", "")
                           .typed<at::Tensor(at::TensorList, c10::string_view, const at::Tensor&)>();
  return opaque.call(tensors, token, seed);
}

std::tuple<at::Tensor, at::Tensor> graph_backward(at::TensorList tensors, const at::Tensor& dy, c10::string_view token,
                                                  const at::Tensor& seed) {
  graph_calls[1].fetch_add(1, std::memory_order_relaxed);
  const int64_t handle = graph_handle(token, tensors);
  if (handle >= 0) {
    graph_calls[3].fetch_add(1, std::memory_order_relaxed);
    return kernel_backward(handle, seed_of(seed), c10::nullopt, tensors, dy);
  }
  static auto opaque =
      c10::Dispatcher::singleton()
          .findSchemaOrThrow("adaptact::_opaque_backward", "")
          .typed<std::tuple<at::Tensor, at::Tensor>(at::TensorList, const at::Tensor&, c10::string_view,
                                                    const at::Tensor&)>();
  return opaque.call(tensors, dy, token, seed);
}

bool any_requires_grad(const at::TensorList& tensors) {
  if (!at::GradMode::is_enabled()) return false;
  for (const at::Tensor& t : tensors)
    if (t.requires_grad()) return true;
  return false;
}

// Autograd on CPU: a graph's call (grad mode off, as inside a compiled forward) goes straight to the kernel above;
// a call that records a graph (tracing, or the op called eagerly) takes the Python autograd formula
// (adaptact::_fused_forward_autograd), which is what a compiled graph is traced from.
at::Tensor graph_forward_autograd(c10::DispatchKeySet keys, at::TensorList tensors, c10::string_view token,
                                  const at::Tensor& seed) {
  if (any_requires_grad(tensors)) {
    static auto formula = c10::Dispatcher::singleton()
                              .findSchemaOrThrow("adaptact::_fused_forward_autograd", "")
                              .typed<at::Tensor(at::TensorList, c10::string_view, const at::Tensor&)>();
    return formula.call(tensors, token, seed);
  }
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("adaptact::fused_forward", "")
                       .typed<at::Tensor(at::TensorList, c10::string_view, const at::Tensor&)>();
  return op.redispatch(keys & c10::after_autograd_keyset, tensors, token, seed);
}

std::tuple<at::Tensor, at::Tensor> graph_backward_autograd(c10::DispatchKeySet keys, at::TensorList tensors,
                                                           const at::Tensor& dy, c10::string_view token,
                                                           const at::Tensor& seed) {
  TORCH_CHECK(!any_requires_grad(tensors) && !(at::GradMode::is_enabled() && dy.requires_grad()),
              "adaptact::fused_backward is first-order: a backward with create_graph=True through a compiled "
              "fused unit is not supported (run that model eagerly: its fused units differentiate the reference)");
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("adaptact::fused_backward", "")
                       .typed<std::tuple<at::Tensor, at::Tensor>(at::TensorList, const at::Tensor&, c10::string_view,
                                                                 const at::Tensor&)>();
  return op.redispatch(keys & c10::after_autograd_keyset, tensors, dy, token, seed);
}

void set_graph_enabled(bool on) {
  graph_enabled.store(on, std::memory_order_relaxed);
  std::lock_guard<std::mutex> hold(graph_lock);
  graph_handles.clear();
}

std::vector<int64_t> graph_counts() {
  std::vector<int64_t> out;
  for (const auto& c : graph_calls) out.push_back(c.load(std::memory_order_relaxed));
  return out;
}

}  // namespace

TORCH_LIBRARY(adaptact_native, m) {
  m.def("prepare(int fwd_rows, int bwd_rows, int fwd_cols, int bwd_cols, bool columns, int rows, int length, "
        "int channels, int groups, int width, int x_index, int[] sizes, int single, bool identity, Tensor? index, "
        "bool theta_input, str normalization, int weights, int params, float tiny) "
        "-> int",
        &prepare);
  m.def("call(int handle, int seed, Tensor? theta, Tensor[] tensors) -> Tensor");
  m.def("kernel_forward(int handle, int seed, Tensor? theta, Tensor[] tensors) -> Tensor", &kernel_forward);
  m.def("kernel_backward(int handle, int seed, Tensor? theta, Tensor[] tensors, Tensor dy) -> (Tensor, Tensor)",
        &kernel_backward);
  m.def("reference_vjp(int handle, int seed, Tensor[] tensors, Tensor dy, int needed) -> (Tensor[], int)");
  m.def("set_graph_enabled(bool on) -> ()", &set_graph_enabled);
  m.def("graph_counts() -> int[]", &graph_counts);
}

// The compiled graphs' ops are defined by kernels/custom_ops.py (their Python kernels serve every device until
// this library is loaded); on CPU these take over.
TORCH_LIBRARY_IMPL(adaptact, CPU, m) {
  m.impl("fused_forward", &graph_forward);
  m.impl("fused_backward", &graph_backward);
}

TORCH_LIBRARY_IMPL(adaptact, AutogradCPU, m) {
  m.impl("fused_forward", &graph_forward_autograd);
  m.impl("fused_backward", &graph_backward_autograd);
}

TORCH_LIBRARY_IMPL(adaptact_native, CompositeImplicitAutograd, m) { m.impl("call", call); }
