/* facetwin/net.h — an encoder network built from a JSON architecture spec.
 *
 * Architectures are data. A spec is a JSON object:
 *   { "name": "seed-mnist",
 *     "input": {"width":28, "height":28, "channels":1, "mean":[0], "std":[1]},
 *     "init": "glorot_uniform",            optional: glorot_uniform | he_normal
 *     "layers": [ {"type":"conv2d", "filters":64, "kernel":3}, {"type":"relu"}, ... ] }
 * Layer types and fields (defaults in brackets):
 *   conv2d     filters, kernel, [stride 1], [padding 0], [groups 1], [bias true]
 *   dense      units, [bias true]
 *   relu | flatten | gap (global average pool) | l2norm [eps 1e-12]
 *   leaky      [alpha 0.1]                     (x > 0 ? x : alpha*x)
 *   relu6                                      (min(max(x, 0), 6): MobileNet's clip)
 *   maxpool | avgpool   kernel, [stride = kernel], [padding 0]
 *              maxpool also takes "padding": "same" (TensorFlow's rule: output
 *              ceil(in/stride), the odd padding cell at the bottom/right)
 *   pad        [top 0], [left 0], [bottom 0], [right 0]   (zeros around H, W:
 *              tf.pad, and the asymmetric 'same' of a stride-2 TF conv as
 *              pad + conv2d with padding 0)
 *   dropout    rate (training only)
 *   batchnorm  [momentum 0.1], [eps 1e-5]     (per channel, 4-D or 2-D input)
 *   scale      [bias true]                     (per-channel learned scale/bias)
 *   add        from, [zero_pad false]          (residual: adds the output of layer `from`;
 *                                               zero_pad: shapes may differ, each operand is
 *                                               zero-extended at the end of every axis to the
 *                                               larger shape — face-api's residualDown)
 * Any layer may take "input": k to read layer k's output instead of the
 * previous one (-1 = the network input): with "add" this expresses residual
 * blocks and projection shortcuts. The last layer's output is the embedding.
 * Parse errors name the layer index and field: "layer 3 (conv2d): 'kernel' must be ...".
 *
 * Tensors are named "<layer>.<param>": "0.weight", "0.bias", "2.running_mean".
 *
 * Ownership and threads: ft_net owns its weights, gradients and activation
 * buffers. One ft_net must not be used by two threads at once; BLAS inside a
 * call uses the threads set by ft_set_threads().
 */
#ifndef FACETWIN_NET_H
#define FACETWIN_NET_H

#include <stddef.h>
#include <stdint.h>

#include "facetwin/checkpoint.h"
#include "facetwin/image.h"
#include "facetwin/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FT_AUX_PREFIX "aux/" /* checkpoint tensors that are not the net's (SSD priors) */

typedef struct ft_net ft_net;

/* A trainable (or stored) tensor of the network, viewed in place. */
typedef struct {
    const char *name;  /* "0.weight" ... (owned by the net) */
    float *data;
    float *grad;       /* NULL for buffers (running stats) */
    size_t count;
    int ndim;
    int64_t dims[4];
    int decay;         /* 1 if weight decay applies (conv/dense weights) */
} ft_param;

/* Parses a spec; the net's weights are zero until ft_net_init or a load. */
ft_status ft_net_from_json(const char *spec_json, ft_net **out, ft_error *err);

/* Resolves NAME (a built-in preset, e.g. "seed-mnist") or a path to a .json spec file
 * and returns the spec text (malloc'd, caller frees). */
ft_status ft_spec_resolve(const char *name_or_path, char **spec_json, ft_error *err);

/* Names of the built-in presets, NULL-terminated. */
const char *const *ft_spec_presets(void);

void ft_net_free(ft_net *net);

/* Initialises weights from the spec's init rule with a seeded RNG. */
void ft_net_init(ft_net *net, uint64_t seed);

const char *ft_net_name(const ft_net *net);
const char *ft_net_spec_json(const ft_net *net);  /* canonical spec text (owned by net) */
const ft_input_spec *ft_net_input(const ft_net *net);
int ft_net_input_size(const ft_net *net);  /* floats per image: C*H*W */
int ft_net_embed_dim(const ft_net *net);
size_t ft_net_param_count(const ft_net *net); /* trainable floats */
int ft_net_n_layers(const ft_net *net);
/* Human-readable one-line description of layer i and its output shape. */
void ft_net_describe_layer(const ft_net *net, int i, char *buf, size_t n);
/* Forward FLOPs per image (multiply-adds count 2). */
double ft_net_flops(const ft_net *net);

/* All tensors (trainable first, then buffers); the array is owned by the net. */
const ft_param *ft_net_params(const ft_net *net, int *n);

/* Allocates activations for batches up to max_batch (training adds gradients). Reserved for
 * inference only (training 0, and never reserved for training before), outputs share memory
 * by lifetime: after a forward only the last layer's and the dead ends' outputs
 * (ft_net_layer_output) hold their values. */
ft_status ft_net_reserve(ft_net *net, int max_batch, int training, ft_error *err);

/* Floats an inference reservation for max_batch needs (activations + conv workspace; 0 on
 * failure), and that reservation laid in the caller's arena (not owned: it must outlive the
 * net's forwards until the next reservation or ft_net_free). Nets that never run at the same
 * time may share one arena sized for the largest; a later ft_net_reserve for a larger batch or
 * training moves the net to buffers of its own. */
size_t ft_net_inference_floats(const ft_net *net, int max_batch);
ft_status ft_net_reserve_in(ft_net *net, int max_batch, float *arena, size_t arena_floats, ft_error *err);

/* Forward pass on x (B, C, H, W); returns the embeddings (B, D), owned by the
 * net and valid until the next call. training=1 uses batch statistics and
 * dropout and keeps what backward needs. B must be <= the reserved batch. */
const float *ft_net_forward(ft_net *net, const float *x, int B, int training);

/* The output of layer i of the last forward, (B, C, H, W) with C, H, W filled in (owned by
 * the net, valid until the next call; NULL for a bad i). A net with several outputs (the SSD
 * detector's 12 prediction convs) is read this way: layers nobody consumes keep their values. */
const float *ft_net_layer_output(const ft_net *net, int i, int *c, int *h, int *w);

/* Backward from dL/dembedding (B, D) after a training forward of the same B;
 * ACCUMULATES parameter gradients (zero them with ft_net_zero_grad). */
void ft_net_backward(ft_net *net, const float *dembed, int B);
void ft_net_zero_grad(ft_net *net);

/* Contiguous views of all trainable floats and their gradients (ft_net_param_count). */
float *ft_net_weights(ft_net *net);
float *ft_net_grads(ft_net *net);

/* Seeds the dropout RNG (training determinism). */
void ft_net_seed_dropout(ft_net *net, uint64_t seed);

/* Embeds n images (inference mode) in batches; out is (n, D). */
ft_status ft_net_embed(ft_net *net, const float *x, int n, float *out, ft_error *err);

/* Copies the net's tensors into a checkpoint's tensor list (deep copy; the
 * caller owns ck->tensors). ck's other fields are filled from the net. */
ft_status ft_net_to_checkpoint(const ft_net *net, ft_ckpt *ck, ft_error *err);

/* Copies a checkpoint's tensors into an existing net after checking every name
 * and shape (tensors under "opt/" (training state), "calib/" (the calibration ROC) and "aux/" (pipeline data such as
 * the SSD priors) are skipped;
 * prefix, if non-NULL, reads "<prefix><name>" instead, e.g. "opt/best/"). */
ft_status ft_net_load_tensors(ft_net *net, const ft_ckpt *ck, const char *prefix, ft_error *err);

/* Builds a net from a checkpoint: parses its spec, checks geometry, embedding
 * size and every tensor's name and shape against the spec (FT_EMISMATCH with
 * the tensor name), copies the weights. */
ft_status ft_net_from_checkpoint(const ft_ckpt *ck, ft_net **out, ft_error *err);

#ifdef __cplusplus
}
#endif
#endif
