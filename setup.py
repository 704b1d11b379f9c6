from setuptools import find_packages, setup

setup(
    name="v23py",
    version="0.1.0",
    description="Vanadium, rebuilt in Python on Twisted, wire-compatible with Go Vanadium",
    python_requires=">=3.10",
    packages=find_packages(include=["v23py", "v23py.*", "syncbased", "syncbased.*",
                                    "fortune", "fortune.*", "ifc", "ifc.*",
                                    "hello", "hello.*", "fileserver", "fileserver.*"]),
    package_data={"": ["*.vdl", "*.config"]},
    include_package_data=True,
    install_requires=[
        "twisted>=22.10",
        "pynacl>=1.5",
        "construct>=2.10",
        "cryptography>=41",
        "zeroconf>=0.131",  # mDNS neighborhood discovery of sync peers (syncbased)
        "prometheus_client>=0.17",  # --metrics-address: the stats in Prometheus text format
        "wsproto>=1.2",     # WebSocket framing of the ws/wsh transports (sans-IO, as our flow conn)
    ],
    extras_require={
        "test": ["hypothesis>=6", "import-linter>=2.1",  # import-linter: tests/test_architecture.py
                 "playwright>=1.40"],  # playwright drives Debian's chromium
        "fuzz": ["atheris>=2.3"],   # coverage-guided fuzzing (fuzz/run.py, .ci/fuzz.sh)
    },
    entry_points={
        "console_scripts": [
            "vdl = v23py.cmd.vdl:main",
            "principal = v23py.cmd.principal:main",
            "vrpc = v23py.cmd.vrpc:main",
            "namespace = v23py.cmd.namespace:main",
            "mounttable = v23py.cmd.mounttable:main",
            "mounttabled = v23py.cmd.mounttabled:main",
            "debug = v23py.cmd.debug:main",
            "dischargerd = v23py.cmd.dischargerd:main",
            "discharger = v23py.cmd.discharger:main",
            "xproxyd = v23py.cmd.xproxyd:main",
            "syncbased = syncbased.main:main",
            "sb = v23py.cmd.sb:main",
            "fortune-server = fortune.server:main",
            "fortune-client = fortune.client:main",
            "hello-server = hello.server:main",
            "hello-client = hello.client:main",
            "fileserver = fileserver.main:main",
        ],
    },
)
