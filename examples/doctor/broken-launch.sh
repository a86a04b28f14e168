#!/bin/bash
# A deliberately broken launch script in our users' style: every script check of
# `servelab doctor` fires on it (src/doctor/doctor.test.ts lists them). Do not run it.
#
#   servelab doctor examples/doctor/broken-launch.sh --bad-nodes gpu07
#SBATCH --job-name=experts
#SBATCH --nodes=1
#SBATCH --gres=gpu:4

# "clean up" the compile caches: on a shared /tmp this deletes everyone's
rm -rf /tmp/torchinductor_*

export VLLM_CACHE_ROOT=/tmp/vllm-cache

# the expert tunnel goes to a node known to hold stale GPU memory
ssh -fN -L 1910:gpu07:1910 login.cluster

# no log file; a parser without --enable-auto-tool-choice; vLLM version not named
vllm serve Qwen/Qwen3-32B-FP8 --port 1904 --tool-call-parser hermes &

# an EAGLE3 head that is not the known pair for gpt-oss-120b (a Llama one), logged
TORCHINDUCTOR_CACHE_DIR=$HOME/.cache/inductor-1911 vllm serve openai/gpt-oss-120b --port 1911 \
  --speculative-config '{"method": "eagle3", "model": "yuhuili/EAGLE3-LLaMA3.1-Instruct-8B"}' \
  --gpu-memory-utilization 0.85 2>&1 | tee logs/1911.log &
wait
