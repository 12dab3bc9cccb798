{
  "targets": [
    {
      "target_name": "scrooge_native",
      "sources": [
        "dataplane/native/module.c",
        "dataplane/native/napi.c",
        "dataplane/native/port.c",
        "dataplane/native/tun.c",
        "dataplane/native/udp.c",
        "dataplane/native/offload.c",
        "dataplane/native/link.c",
        "dataplane/native/express.c",
        "dataplane/native/express_js.c",
        "dataplane/native/aead.c"
      ],
      "cflags": ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-fvisibility=hidden"],
      "conditions": [["OS!='linux'", { "type": "none" }]]
    }
  ]
}
