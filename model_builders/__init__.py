"""Datasets, architectures and variant recipes, built through a content-addressed cache.

Importing this package changes nothing in the process: pytest loads it with the plugin in
every run of the environment, including other projects' suites. The environment TensorFlow
reads when it starts (tf_runtime.TF_ENVIRONMENT) is set only by the processes that import
TensorFlow to build or to run a reference: the build fork server (tf_preload), the build
workers and the harness's own callers of tf_runtime.set_tf_environment().
"""
