// Which c10d backend a world uses (auto, gloo, nccl), and the NCCL communicator itself at
// world size 1 on a GPU (one GPU cannot host two NCCL ranks; the multi-rank logic is the same
// code as Gloo's, covered by the two-process tests).
#include <ATen/ATen.h>
#include <ATen/Context.h>
#include <c10/util/Exception.h>
#include <gtest/gtest.h>

#include <string>

#include <specopt/dist/communicator.h>

#include "tests/common/temp_dir.h"

namespace {

using specopt::dist::RendezvousOptions;

TEST(Backend, AutoPicksNcclOnlyForCudaTensorsInANcclBuild) {
  RendezvousOptions o;
  EXPECT_EQ(o.backend, "auto");
  EXPECT_EQ(specopt::dist::resolve_backend(o), "gloo");
  o.device_type = at::kCUDA;
  EXPECT_EQ(specopt::dist::resolve_backend(o), specopt::dist::nccl_compiled() ? "nccl" : "gloo");
  o.backend = "gloo";
  EXPECT_EQ(specopt::dist::resolve_backend(o), "gloo");
}

TEST(Backend, UnknownBackendAndDeviceAreRefusedByName) {
  RendezvousOptions o;
  o.backend = "mpi";
  try {
    o.validate();
    FAIL() << "backend mpi accepted";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what_without_backtrace()).find("'mpi'"), std::string::npos);
  }
  o.backend = "auto";
  o.device_type = at::kMeta;
  EXPECT_THROW(o.validate(), c10::Error);
}

TEST(Backend, NcclOutsideANcclBuildSaysWhy) {
  if (specopt::dist::nccl_compiled()) GTEST_SKIP() << "this build has NCCL: nothing to refuse";
  RendezvousOptions o;
  o.backend = "nccl";
  try {
    specopt::dist::init_process_group(o);
    FAIL() << "nccl accepted in a build without it";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what_without_backtrace()).find("not in this build"),
              std::string::npos)
        << e.what_without_backtrace();
  }
}

TEST(Nccl, WorldOfOneRunsEveryCollectiveOnTheGpu) {
  if (!specopt::dist::nccl_compiled()) GTEST_SKIP() << "built without NCCL: NCCL checks not run";
  if (!at::hasCUDA()) GTEST_SKIP() << "no CUDA device: NCCL checks not run";
  specopt_test::ScopedTempDir dir;
  RendezvousOptions o;
  o.backend = "nccl";
  o.file_store = (dir.path / "store").string();
  auto comm = specopt::dist::init_process_group(o);
  ASSERT_EQ(comm->backend(), "nccl");
  ASSERT_EQ(comm->size(), 1);

  const auto opts = at::TensorOptions().dtype(at::kFloat).device(at::kCUDA);
  auto x = at::arange(12, opts).reshape({3, 4});
  const auto x0 = x.clone();
  comm->all_reduce(x);
  EXPECT_TRUE(x.is_cuda());
  EXPECT_TRUE(at::equal(x, x0));
  comm->all_reduce(x, specopt::dist::ReduceOp::avg);
  EXPECT_TRUE(at::equal(x, x0));
  comm->all_reduce(x, specopt::dist::ReduceOp::max);
  EXPECT_TRUE(at::equal(x, x0));

  const auto gathered = comm->all_gather(x);
  ASSERT_EQ(gathered.size(), 1u);
  EXPECT_TRUE(at::equal(gathered[0], x0));

  comm->broadcast(x, 0);
  EXPECT_TRUE(at::equal(x, x0));

  // A CPU tensor (a flag, a loss) goes through the GPU and comes back where it was.
  auto flag = at::full({1}, 2.5, at::kDouble);
  comm->all_reduce(flag);
  EXPECT_FALSE(flag.is_cuda());
  EXPECT_EQ(flag.item<double>(), 2.5);

  const auto chunk = comm->reduce_scatter(at::arange(4, opts));
  EXPECT_TRUE(at::equal(chunk, at::arange(4, opts)));
  comm->barrier();
}

}  // namespace
