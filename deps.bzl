"""External repositories that ancient needs, for this and other workspaces.

A consumer's WORKSPACE needs only:

    local_repository(name = "ancient", path = "...")
    load("@ancient//:deps.bzl", "ancient_dependencies")
    ancient_dependencies()

Everything is local: the libraries come from Debian packages under /usr
(tools/install-deps installs them), and the four repositories that Bazel 4.2.3
asks for even in a pure C++ build are small stand-ins written here, because
nothing can be fetched from the network.
"""

_RULES_CC_DEFS = """\
# Stand-in for rules_cc: the native rules of Bazel 4.2.3.
cc_binary = native.cc_binary
cc_import = native.cc_import
cc_library = native.cc_library
cc_test = native.cc_test
cc_toolchain = native.cc_toolchain
cc_toolchain_suite = native.cc_toolchain_suite
cc_proto_library = native.cc_proto_library
fdo_prefetch_hints = native.fdo_prefetch_hints
fdo_profile = native.fdo_profile
objc_library = native.objc_library
"""

_RULES_JAVA_DEFS = """\
# Stand-in for rules_java: the native rules of Bazel 4.2.3.
java_binary = native.java_binary
java_import = native.java_import
java_library = native.java_library
java_runtime = native.java_runtime
java_toolchain = native.java_toolchain
java_test = native.java_test
java_plugin = native.java_plugin
"""

_COVERAGE_BUILD = """\
# Stand-in for remote_coverage_tools: `bazel test` names these targets even
# without coverage. Coverage itself is not available offline.
package(default_visibility = ["//visibility:public"])

genrule(
    name = "unavailable_sh",
    outs = ["unavailable.sh"],
    cmd = "printf '#!/bin/sh\\\\necho coverage tools are not available offline >&2\\\\nexit 1\\\\n' > $@",
    executable = True,
)

sh_binary(
    name = "coverage_report_generator",
    srcs = [":unavailable.sh"],
)

sh_binary(
    name = "lcov_merger",
    srcs = [":unavailable.sh"],
)
"""

def _stand_in_impl(ctx):
    ctx.file("WORKSPACE", 'workspace(name = "%s")\n' % ctx.name)
    for path, content in ctx.attr.files.items():
        ctx.file(path, content)

_stand_in = repository_rule(
    implementation = _stand_in_impl,
    attrs = {"files": attr.string_dict(mandatory = True)},
    doc = "A local repository whose files are given as strings.",
)

def _maybe(rule, name, **kwargs):
    if not native.existing_rule(name):
        rule(name = name, **kwargs)

def ancient_dependencies():
    """Declares every external repository that @ancient needs."""
    _maybe(
        _stand_in,
        name = "rules_cc",
        files = {"BUILD": "", "cc/BUILD": "", "cc/defs.bzl": _RULES_CC_DEFS},
    )
    _maybe(
        _stand_in,
        name = "rules_java",
        files = {"BUILD": "", "java/BUILD": "", "java/defs.bzl": _RULES_JAVA_DEFS},
    )
    _maybe(
        _stand_in,
        name = "remote_coverage_tools",
        files = {"BUILD": _COVERAGE_BUILD},
    )
    _maybe(
        native.local_repository,
        name = "platforms",
        path = "/usr/share/bazel/tools/platforms",
    )
    _maybe(
        native.new_local_repository,
        name = "ancient_system",
        path = "/usr",
        build_file = "@ancient//third_party:system_libs.BUILD",
    )
