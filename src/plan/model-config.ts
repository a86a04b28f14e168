/**
 * A Hugging Face config.json turned into the ModelProfile the capacity math and the step-time
 * model use. Parameter counts come from the shapes (gated MLPs: 3 matrices; norms and biases
 * are negligible and not counted):
 *   embeddings  vocab * hidden * (tied ? 1 : 2)
 *   attention   q + k + v + o = hidden * heads * head_dim * 2 + hidden * kv_heads * head_dim * 2
 *   MLA         (q_lora_rank ? hidden * q_lora + q_lora * heads * (nope + rope) : hidden * heads * (nope + rope))
 *               + hidden * (kv_lora + rope) + kv_lora * heads * (nope + v) + heads * v * hidden
 *   dense MLP   3 * hidden * intermediate_size
 *   MoE layer   experts * 3 * hidden * moe_intermediate + shared experts + router (hidden * experts)
 * MLA models cache one (kv_lora_rank + qk_rope_head_dim) latent per token per layer.
 */
import { ServelabError } from '../errors.js';
import type { ModelProfile, WeightDtype } from '../knowledge/models.js';

type Obj = Record<string, unknown>;

const HINT =
  "pass the model's Hugging Face config.json (the file next to the weights), or --model with a name servelab knows (servelab plan --help lists them)";

function bad(source: string, what: string): ServelabError {
  return new ServelabError('BAD_FILE', `${source}: ${what}`, { hint: HINT });
}

function int(
  cfg: Obj,
  key: string,
  source: string,
  o: { max: number; min?: number; optional?: false },
): number;
function int(
  cfg: Obj,
  key: string,
  source: string,
  o: { max: number; min?: number; optional: true },
): number | undefined;
function int(
  cfg: Obj,
  key: string,
  source: string,
  o: { max: number; min?: number; optional?: boolean },
): number | undefined {
  const v = cfg[key];
  if (v === undefined || v === null) {
    if (o.optional) return undefined;
    throw bad(source, `"${key}" is missing`);
  }
  const min = o.min ?? 1;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > o.max) {
    throw bad(source, `"${key}" must be an integer in [${min}, ${o.max}], got ${JSON.stringify(v)}`);
  }
  return v;
}

function weightDtypeOf(cfg: Obj, source: string): WeightDtype {
  const q = cfg.quantization_config;
  if (q !== undefined && q !== null) {
    if (typeof q !== 'object') throw bad(source, '"quantization_config" must be an object');
    const method = String((q as Obj).quant_method ?? '').toLowerCase();
    if (method === 'fp8') return 'fp8';
    if (method === 'mxfp4') return 'mxfp4';
    if (method === 'compressed-tensors') {
      const groups = (q as Obj).config_groups as Obj | undefined;
      const w = groups && (Object.values(groups)[0] as Obj | undefined)?.weights;
      const wo = (w ?? {}) as Obj;
      if (wo.num_bits === 8 && wo.type === 'float') return 'fp8';
    }
    throw new ServelabError(
      'BAD_FILE',
      `${source}: quantization "${method || JSON.stringify(q)}" is not modelled`,
      {
        hint: 'servelab plans bf16, fp8 and mxfp4 weights; pass --dtype bf16|fp8|mxfp4 to plan this model at one of them',
      },
    );
  }
  const t = String(cfg.torch_dtype ?? cfg.dtype ?? 'bfloat16').toLowerCase();
  if (t === 'bfloat16' || t === 'float16' || t === 'float32' || t === 'auto') return 'bf16';
  throw bad(source, `"torch_dtype" "${t}" is not one of bfloat16, float16, float32`);
}

/** Parse a config.json text (from `source`, a path for messages) into a ModelProfile. */
export function modelFromHfConfig(text: string, source: string, name?: string): ModelProfile {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw bad(source, `not valid JSON (${(e as Error).message})`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw bad(source, 'not a JSON object');
  // multimodal configs nest the language model under text_config
  const top = raw as Obj;
  const cfg: Obj =
    top.text_config && typeof top.text_config === 'object' ? { ...top, ...(top.text_config as Obj) } : top;

  const layers = int(cfg, 'num_hidden_layers', source, { max: 1000 });
  const hidden = int(cfg, 'hidden_size', source, { max: 131072 });
  const heads = int(cfg, 'num_attention_heads', source, { max: 4096 });
  const kvHeadsCfg = int(cfg, 'num_key_value_heads', source, { max: 4096, optional: true }) ?? heads;
  const headDimCfg = int(cfg, 'head_dim', source, { max: 4096, optional: true });
  const vocab = int(cfg, 'vocab_size', source, { max: 10_000_000 });
  const maxContext = int(cfg, 'max_position_embeddings', source, { max: 100_000_000 });
  const numExperts =
    int(cfg, 'n_routed_experts', source, { max: 100_000, min: 0, optional: true }) ??
    int(cfg, 'num_experts', source, { max: 100_000, min: 0, optional: true }) ??
    int(cfg, 'num_local_experts', source, { max: 100_000, min: 0, optional: true }) ??
    0;
  const intermediate =
    numExperts > 0
      ? int(cfg, 'intermediate_size', source, { max: 10_000_000, optional: true })
      : int(cfg, 'intermediate_size', source, { max: 10_000_000 });
  const tied = cfg.tie_word_embeddings === true;
  if (kvHeadsCfg > heads)
    throw bad(source, `num_key_value_heads (${kvHeadsCfg}) > num_attention_heads (${heads})`);
  const headDim = headDimCfg ?? hidden / heads;
  if (!Number.isInteger(headDim))
    throw bad(
      source,
      `hidden_size ${hidden} is not a multiple of num_attention_heads ${heads}; give "head_dim"`,
    );

  // attention
  const kvLoraRank = int(cfg, 'kv_lora_rank', source, { max: 65536, optional: true });
  let attnPerLayer: number;
  let mla: ModelProfile['mla'];
  if (kvLoraRank !== undefined) {
    const rope = int(cfg, 'qk_rope_head_dim', source, { max: 4096 });
    const nope = int(cfg, 'qk_nope_head_dim', source, { max: 4096, min: 0, optional: true }) ?? headDim;
    const vDim = int(cfg, 'v_head_dim', source, { max: 4096, optional: true }) ?? headDim;
    const qLora = int(cfg, 'q_lora_rank', source, { max: 65536, optional: true });
    const q = qLora ? hidden * qLora + qLora * heads * (nope + rope) : hidden * heads * (nope + rope);
    attnPerLayer =
      q + hidden * (kvLoraRank + rope) + kvLoraRank * heads * (nope + vDim) + heads * vDim * hidden;
    mla = { kvLoraRank, ropeHeadDim: rope };
  } else {
    attnPerLayer = 2 * hidden * heads * headDim + 2 * hidden * kvHeadsCfg * headDim;
  }

  // layers that hold a KV cache: hybrid models mark linear-attention layers
  let attentionLayers = layers;
  if (Array.isArray(cfg.layer_types)) {
    attentionLayers = (cfg.layer_types as unknown[]).filter((t) => !String(t).includes('linear')).length;
  } else if (cfg.full_attention_interval !== undefined) {
    const every = int(cfg, 'full_attention_interval', source, { max: layers });
    attentionLayers = Math.floor(layers / every);
  }
  if (attentionLayers < 1)
    throw bad(source, 'no layer holds a KV cache (layer_types has only linear attention)');

  // MLPs
  let expertParams = 0;
  let mlpParams = 0;
  let topK = 0;
  if (numExperts > 0) {
    topK =
      int(cfg, 'num_experts_per_tok', source, { max: numExperts, optional: true }) ??
      int(cfg, 'experts_per_token', source, { max: numExperts });
    const moeInter =
      int(cfg, 'moe_intermediate_size', source, { max: 10_000_000, optional: true }) ?? intermediate;
    if (moeInter === undefined)
      throw bad(source, '"moe_intermediate_size" (or "intermediate_size") is missing');
    const firstDense =
      int(cfg, 'first_k_dense_replace', source, { max: layers, min: 0, optional: true }) ?? 0;
    const mlpOnly = Array.isArray(cfg.mlp_only_layers) ? cfg.mlp_only_layers.length : 0;
    const step =
      int(cfg, 'moe_layer_freq', source, { max: layers, optional: true }) ??
      int(cfg, 'decoder_sparse_step', source, { max: layers, optional: true }) ??
      1;
    const moeLayers = Math.floor((layers - firstDense - mlpOnly) / step);
    const denseLayers = layers - moeLayers;
    if (denseLayers > 0 && intermediate === undefined) throw bad(source, '"intermediate_size" is missing');
    const shared = int(cfg, 'n_shared_experts', source, { max: 1024, min: 0, optional: true }) ?? 0;
    const sharedInter =
      int(cfg, 'shared_expert_intermediate_size', source, { max: 10_000_000, min: 0, optional: true }) ??
      shared * moeInter;
    expertParams = moeLayers * numExperts * 3 * hidden * moeInter;
    mlpParams =
      denseLayers * 3 * hidden * (intermediate ?? 0) +
      moeLayers * (3 * hidden * sharedInter + hidden * numExperts);
  } else {
    mlpParams = layers * 3 * hidden * intermediate!;
  }
  const embeddingParams = vocab * hidden * (tied ? 1 : 2);
  const totalParams = embeddingParams + layers * attnPerLayer + mlpParams + expertParams;
  const activeParams =
    numExperts > 0 ? totalParams - expertParams + (expertParams * topK) / numExperts : totalParams;
  const modelName =
    name ?? (typeof cfg._name_or_path === 'string' && cfg._name_or_path ? cfg._name_or_path : source);
  return {
    name: modelName,
    aliases: [],
    layers,
    attentionLayers,
    hidden,
    numHeads: heads,
    numKvHeads: mla ? 1 : kvHeadsCfg,
    headDim: mla ? mla.kvLoraRank + mla.ropeHeadDim : headDim,
    vocab,
    totalParams,
    activeParams,
    embeddingParams,
    expertParams,
    numExperts,
    topK,
    defaultWeightDtype: weightDtypeOf(cfg, source),
    maxContext,
    ...(mla ? { mla } : {}),
    notes: `from ${source}`,
  };
}
