// Entry point of the matrix-function suite. One intra-op thread: ctest runs two test
// processes at once on the 2-core CI machine, and OpenMP threads that outnumber the cores
// spin against each other. Nothing here measures speed.
#include <ATen/Parallel.h>
#include <gtest/gtest.h>

int main(int argc, char** argv) {
  at::set_num_threads(1);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
