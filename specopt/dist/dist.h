#pragma once
// specopt::dist (CMake target specopt::dist): data-parallel execution. Communicators (one
// process, or c10d over Gloo / NCCL from torchrun-style variables), DistributedOptimizer (any
// specopt optimizer, ZeRO-1 style) and its sharded checkpoints. See docs/distributed.md.
#include <specopt/dist/communicator.h>
#include <specopt/dist/distributed.h>
#include <specopt/specopt.h>
