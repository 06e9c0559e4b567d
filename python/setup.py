"""pip install --no-build-isolation ./python  (docs/python.md)

Builds specopt._C with the project's CMake (the specopt library and the extension only) against
the torch of the Python running pip, and installs it with the sources of python/specopt.
Environment: SPECOPT_CMAKE_ARGS (extra CMake arguments), SPECOPT_BUILD_JOBS (default 2).
"""
import os
import shlex
import shutil
import subprocess
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


class CMakeBuild(build_ext):
    def build_extension(self, ext):
        if not os.path.exists(os.path.join(ROOT, "specopt", "optim", "fields.h")):
            sys.exit(f"specopt: the C++ sources are not beside {HERE} (install from a checkout)")
        import torch.utils

        build = os.path.abspath(os.path.join(self.build_temp, "cmake"))
        os.makedirs(build, exist_ok=True)
        args = [
            "cmake", "-S", ROOT, "-B", build, "-DCMAKE_BUILD_TYPE=Release",
            "-DSPECOPT_BUILD_APPS=OFF", "-DSPECOPT_BUILD_TESTS=OFF", "-DSPECOPT_BUILD_BENCH=OFF",
            "-DSPECOPT_BUILD_PYTHON=ON", f"-DSPECOPT_PYTHON={sys.executable}",
            f"-DCMAKE_PREFIX_PATH={torch.utils.cmake_prefix_path}",
        ]
        if shutil.which("ccache"):
            args.append("-DCMAKE_CXX_COMPILER_LAUNCHER=ccache")
        args += shlex.split(os.environ.get("SPECOPT_CMAKE_ARGS", ""))
        subprocess.check_call(args)
        subprocess.check_call(["cmake", "--build", build, "--target", "specopt_python",
                               "-j", os.environ.get("SPECOPT_BUILD_JOBS", "2")])
        built = os.path.join(build, "python", "specopt")
        target = os.path.dirname(os.path.abspath(self.get_ext_fullpath(ext.name)))
        os.makedirs(target, exist_ok=True)
        for name in os.listdir(built):
            if name.startswith("_C.") and name.endswith(".so"):
                shutil.copy2(os.path.join(built, name), self.get_ext_fullpath(ext.name))
                return
        sys.exit(f"specopt: no _C module in {built}")


setup(
    name="specopt",
    version="0.1.0",
    description="Spectral optimizers (Muon, NorMuon, Lion-K, SpectralAdam, ...) on specopt's C++ core",
    packages=["specopt"],
    ext_modules=[Extension("specopt._C", sources=[])],
    cmdclass={"build_ext": CMakeBuild},
    python_requires=">=3.9",
    install_requires=[],  # torch comes from the environment (no build isolation)
)
