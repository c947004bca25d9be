{
  "targets": [
    {
      "target_name": "cloudbridge_tun",
      "sources": ["src/addon.c", "src/conntrack.c", "src/gcm.c", "src/layout.c", "src/ssh_in.c", "src/ssh_out.c", "src/unixsock.c", "src/writer.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "conditions": [
        ["OS=='linux'", { "sources": ["src/tun_linux.c"] }],
        ["OS=='mac'", {
          "sources": ["src/tun_darwin.c"],
          "xcode_settings": { "OTHER_CFLAGS": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"] }
        }]
      ]
    }
  ]
}
