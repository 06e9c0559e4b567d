// lab/npy.h and lab/atomic_file.h: .npy round trips, error messages, atomic writes.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <xtensor/xarray.hpp>
#include <xtensor/xnpy.hpp>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>

#include "lab/atomic_file.h"
#include "lab/npy.h"
#include "tests/common/file_bytes.h"
#include "tests/common/temp_dir.h"

namespace {

using specopt::lab::read_npy;
using specopt::lab::write_file_atomic;
using specopt::lab::write_npy;
using TempDir = specopt_test::TempDirTest;

using specopt_test::slurp;
using specopt_test::spit;

// The message of the std::runtime_error that `fn` throws ("" if it does not throw).
template <class F>
std::string error_of(F&& fn) {
  try {
    fn();
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

using NpyTest = TempDir;

TEST_F(NpyTest, RoundTripFloat32Matrix) {
  const auto t = at::randn({5, 7}, at::kFloat);
  write_npy(path("a.npy"), t);
  const auto r = read_npy(path("a.npy"));
  EXPECT_EQ(r.scalar_type(), at::kFloat);
  EXPECT_EQ(r.sizes(), t.sizes());
  EXPECT_TRUE(at::equal(r, t));
}

TEST_F(NpyTest, RoundTripFloat64Batch) {
  const auto t = at::randn({3, 4, 6}, at::kDouble);
  write_npy(path("b.npy"), t);
  const auto r = read_npy(path("b.npy"));
  EXPECT_EQ(r.scalar_type(), at::kDouble);
  EXPECT_EQ(r.sizes(), t.sizes());
  EXPECT_TRUE(at::equal(r, t));
}

TEST_F(NpyTest, NonContiguousInputIsWrittenInLogicalOrder) {
  const auto t = at::randn({6, 4}, at::kFloat).t();  // (4, 6), transposed strides
  write_npy(path("t.npy"), t);
  EXPECT_TRUE(at::equal(read_npy(path("t.npy")), t.contiguous()));
}

TEST_F(NpyTest, ReadsFortranOrder) {
  xt::xarray<double, xt::layout_type::column_major> a = {{1, 2, 3}, {4, 5, 6}};
  xt::dump_npy(path("f.npy"), a);
  ASSERT_NE(slurp(path("f.npy")).find("'fortran_order': True"), std::string::npos);
  const auto r = read_npy(path("f.npy"));
  const auto expected = at::tensor({1., 2., 3., 4., 5., 6.}, at::kDouble).reshape({2, 3});
  EXPECT_TRUE(at::equal(r, expected)) << r;
  EXPECT_TRUE(r.is_contiguous());
}

TEST_F(NpyTest, WriteIsAtomicAndLeavesNoTemporaryFile) {
  write_npy(path("x.npy"), at::zeros({2, 2}, at::kFloat));
  write_npy(path("x.npy"), at::ones({3, 3}, at::kFloat));  // replaces
  EXPECT_EQ(entries(), std::vector<std::string>{"x.npy"});
  EXPECT_TRUE(at::equal(read_npy(path("x.npy")), at::ones({3, 3}, at::kFloat)));
}

TEST_F(NpyTest, FailedWriteKeepsOldFileAndLeavesNoTemporary) {
  write_npy(path("keep.npy"), at::ones({2, 2}, at::kDouble));
  const auto msg = error_of([&] { write_npy(path("keep.npy"), at::ones({2, 2}, at::kLong)); });
  EXPECT_NE(msg.find("int64"), std::string::npos) << msg;
  EXPECT_NE(msg.find("keep.npy"), std::string::npos) << msg;
  EXPECT_EQ(entries(), std::vector<std::string>{"keep.npy"});
  EXPECT_TRUE(at::equal(read_npy(path("keep.npy")), at::ones({2, 2}, at::kDouble)));
}

TEST_F(NpyTest, AtomicWriterThatThrowsLeavesNothing) {
  EXPECT_THROW(write_file_atomic(path("w.json"),
                                 [](std::ostream& os) {
                                   os << "partial";
                                   throw std::runtime_error("boom");
                                 }),
               std::runtime_error);
  EXPECT_TRUE(entries().empty());
  write_file_atomic(path("w.json"), [](std::ostream& os) { os << "[1, 2]"; });
  EXPECT_EQ(slurp(path("w.json")), "[1, 2]");
  EXPECT_EQ(entries(), std::vector<std::string>{"w.json"});
}

TEST_F(NpyTest, WriteIntoMissingDirectoryNamesThePath) {
  const auto target = path("no/such/dir/out.npy");
  const auto msg = error_of([&] { write_npy(target, at::ones({2, 2})); });
  EXPECT_NE(msg.find(target), std::string::npos) << msg;
}

TEST_F(NpyTest, MissingFileIsNamed) {
  const auto msg = error_of([&] { read_npy(path("missing.npy")); });
  EXPECT_NE(msg.find("missing.npy"), std::string::npos) << msg;
  EXPECT_NE(msg.find("no such file"), std::string::npos) << msg;
}

TEST_F(NpyTest, Int64IsRejectedWithItsDtype) {
  xt::xarray<int64_t> a = {{1, 2}, {3, 4}};
  xt::dump_npy(path("i.npy"), a);
  const auto msg = error_of([&] { read_npy(path("i.npy")); });
  EXPECT_NE(msg.find("i.npy"), std::string::npos) << msg;
  EXPECT_NE(msg.find("int64"), std::string::npos) << msg;
}

TEST_F(NpyTest, Float16IsRejectedWithItsDtype) {
  // xtensor cannot write half floats: patch the type string of a float32 file.
  auto bytes = specopt::lab::npy_bytes(at::ones({2, 2}, at::kFloat));
  const auto pos = bytes.find("<f4");
  ASSERT_NE(pos, std::string::npos);
  bytes.replace(pos, 3, "<f2");
  spit(path("h.npy"), bytes);
  const auto msg = error_of([&] { read_npy(path("h.npy")); });
  EXPECT_NE(msg.find("float16"), std::string::npos) << msg;
}

TEST_F(NpyTest, BigEndianIsRejected) {
  auto bytes = specopt::lab::npy_bytes(at::ones({2, 2}, at::kFloat));
  bytes.replace(bytes.find("<f4"), 3, ">f4");
  spit(path("be.npy"), bytes);
  const auto msg = error_of([&] { read_npy(path("be.npy")); });
  EXPECT_NE(msg.find("byte order"), std::string::npos) << msg;
}

TEST_F(NpyTest, VectorIsRejectedForRank) {
  xt::xarray<double> v = {1., 2., 3.};
  xt::dump_npy(path("v.npy"), v);
  const auto msg = error_of([&] { read_npy(path("v.npy")); });
  EXPECT_NE(msg.find("rank 1"), std::string::npos) << msg;
  EXPECT_NE(msg.find("v.npy"), std::string::npos) << msg;
}

TEST_F(NpyTest, NotAnNpyFile) {
  spit(path("text.npy"), "hello, world\n");
  const auto msg = error_of([&] { read_npy(path("text.npy")); });
  EXPECT_NE(msg.find("not a NumPy .npy file"), std::string::npos) << msg;
}

TEST_F(NpyTest, TruncatedData) {
  auto bytes = specopt::lab::npy_bytes(at::ones({4, 4}, at::kDouble));
  spit(path("cut.npy"), bytes.substr(0, bytes.size() - 8));
  const auto msg = error_of([&] { read_npy(path("cut.npy")); });
  EXPECT_NE(msg.find("truncated"), std::string::npos) << msg;
}

TEST_F(NpyTest, DirectoryIsRejected) {
  const auto msg = error_of([&] { read_npy(dir_.path.string()); });
  EXPECT_NE(msg.find("directory"), std::string::npos) << msg;
}

// A valid file read through a pipe (no size to seek to) loads like the file itself.
TEST_F(NpyTest, ReadsFromAPipe) {
  const auto t = at::randn({3, 4}, at::kDouble);
  const auto bytes = specopt::lab::npy_bytes(t);
  ASSERT_EQ(::mkfifo(path("pipe").c_str(), 0600), 0);
  std::thread writer([&] { spit(path("pipe"), bytes); });
  std::string msg;
  at::Tensor r;
  try {
    r = read_npy(path("pipe"));
  } catch (const std::exception& e) {
    msg = e.what();
  }
  writer.join();
  ASSERT_EQ(msg, "");
  EXPECT_TRUE(at::equal(r, t));
}

// A version 1.0 .npy file with the header dict `dict` and `data` after it.
std::string npy_with_header(const std::string& dict, const std::string& data) {
  std::string header = dict;
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string out("\x93NUMPY\x01\x00", 8);
  out += static_cast<char>(header.size() & 0xFF);
  out += static_cast<char>(header.size() >> 8);
  return out + header + data;
}

// Shape entries that are not non-negative integers are named, not truncated or called large.
TEST_F(NpyTest, BadShapeEntriesAreNamed) {
  const std::string data(6 * 4 * 4, '\0');
  for (const auto& [shape, word] : std::vector<std::pair<std::string, std::string>>{
           {"(6.5, 4)", "'6.5' is not a non-negative integer"},
           {"(-1, 4)", "'-1' is not a non-negative integer"}}) {
    spit(path("s.npy"), npy_with_header("{'descr': '<f4', 'fortran_order': False, 'shape': " +
                                            shape + ", }", data));
    const auto msg = error_of([&] { read_npy(path("s.npy")); });
    EXPECT_NE(msg.find(word), std::string::npos) << shape << ": " << msg;
  }
  spit(path("ok.npy"), npy_with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (6, 4), }", data));
  EXPECT_EQ(error_of([&] { EXPECT_EQ(read_npy(path("ok.npy")).sizes(), at::IntArrayRef({6, 4})); }), "");
}

// '|f4' (byte order "not applicable") is read as the float32 it is.
TEST_F(NpyTest, PipeByteOrderMarkIsAccepted) {
  const auto t = at::randn({2, 3}, at::kFloat);
  auto bytes = specopt::lab::npy_bytes(t);
  bytes.replace(bytes.find("<f4"), 3, "|f4");
  spit(path("p.npy"), bytes);
  EXPECT_EQ(error_of([&] { EXPECT_TRUE(at::equal(read_npy(path("p.npy")), t)); }), "");
}

}  // namespace
