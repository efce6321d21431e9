"""Package list: hidsctl's own packages plus rules/ and scripts/ mapped inside it."""
from setuptools import find_packages, setup

setup(packages=find_packages(include=["hidsctl", "hidsctl.*"]) + ["hidsctl.rules", "hidsctl.scripts"])
