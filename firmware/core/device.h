// The protocol core: reads host lines from a Port, dispatches the commands of
// firmware/PROTOCOL.md (words from protocol_vocabulary.def) to an Engine, writes one
// reply line (REPLY_PREFIX + {json}) per host line.
// Identical on the chip and in the host build; everything with logic lives here.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "engine.h"
#include "error_codes.h"
#include "json_writer.h"
#include "line_reader.h"
#include "port.h"
#include "protocol_vocabulary.h"
#include "upload.h"

namespace tmh {

struct DeviceConfig {
  const char* fw_version = "0.1.0";
  const char* target = "host";
  const char* platform = "host";  // what runs the core: "ESP-IDF v5.3.1", "host"; recorded beside latency
  int clock_mhz = 0;
  // Versions of the esp-tflite-micro and esp-nn components linked ("1.4.0"); nullptr (JSON
  // null in the banner) when the build has none (the fake engine; esp-nn on the host).
  const char* tflm_version = nullptr;
  const char* esp_nn_version = nullptr;
  const char* console = "stdio";  // where the protocol is served: "uart", "usb_serial_jtag", "stdio"
  size_t line_max = 4096;
  size_t chunk_max = 2048;
  uint8_t* model_buffer = nullptr;  // max_model_bytes, 16-byte aligned (flatbuffer data)
  size_t max_model_bytes = 0;
  // Embedded-model mode: a model in flash rodata, loaded at boot.
  const uint8_t* embedded_model = nullptr;
  size_t embedded_model_bytes = 0;
};

class Device {
 public:
  Device(Port& port, Engine& engine, const DeviceConfig& config);

  // In embedded-model mode loads that model first; then prints the boot banner (which
  // then carries an "embedded_model" object: the upload_end fields, or the error).
  void boot();
  // Handles bytes from the host. Returns how many were consumed: fewer than len when a
  // `reset` was handled (the rest belongs to the next boot).
  size_t feed(const uint8_t* data, size_t len);
  // Reads from the port for up to timeout_ms and feeds what came. False when the
  // stream ended or a restart was requested (the caller boots again or stops).
  bool poll(uint32_t timeout_ms);
  bool restart_requested() const { return restart_requested_; }

  // Handles one complete line (without its newline). Public for tests and the fuzzer.
  void handle_line(const char* line, size_t len);

 private:
  // Replies. Every handler gets its command's name from the command table (`cmd`), and every
  // reply starts with ok and cmd (a person reading a monitor sees them first).
  void reply(JsonWriter& w);
  // ok:true, cmd, then the fields `fields(JsonWriter&)` writes.
  template <typename Fields>
  void reply_ok(const char* cmd, Fields&& fields);
  // ok:false, cmd, code, msg, then the members of `extra` (a finished writer of the caller's).
  void reply_error(const char* cmd, Error code, const char* msg, JsonWriter* extra = nullptr);
  // reply_error with a printf-formatted msg.
  void reply_errorf(const char* cmd, Error code, JsonWriter* extra, const char* format, ...)
      __attribute__((format(printf, 5, 6)));
  // Room for a reply of `bytes` in the reply buffer, asked of malloc first (heap.h): false
  // when the heap cannot hold it, where growing the std::string (`new`) would abort.
  bool reserve_reply(size_t bytes);
  // The guard of every command that needs a model: false (after an E_STATE reply) without one.
  bool require_model(const char* cmd, JsonWriter* extra = nullptr);
  void write_banner_fields(JsonWriter& w, const char* cmd);
  void write_tensor(JsonWriter& w, const char* key, const TensorInfo& t);

  void cmd_identify(const char* cmd);
  void cmd_upload_begin(const char* cmd, const char* const* args);
  void cmd_upload_chunk(const char* cmd, const char* const* args);
  void cmd_upload_end(const char* cmd);
  void cmd_set_input(const char* cmd, const char* const* args);
  void cmd_input_chunk(const char* cmd, const char* const* args);
  void cmd_invoke(const char* cmd, bool has_idx, uint32_t idx);
  void cmd_infer(const char* cmd, const char* const* args);
  void cmd_time(const char* cmd, const char* const* args);
  void cmd_profile(const char* cmd);
  void cmd_reset(const char* cmd);

  // Verifies and loads a complete model; writes the upload_end fields on success, or
  // code/msg (and op / arena_capacity) on failure. No model stays loaded on failure.
  Error load_model(const uint8_t* model, size_t size, JsonWriter& w);
  // Decodes a base64 payload into the input tensor; replies and returns false on error.
  bool write_input(const char* cmd, const char* b64);

  Port& port_;
  Engine& engine_;
  DeviceConfig config_;
  LineReader reader_;
  Upload upload_;
  std::string nonce_;
  std::vector<char> words_;   // line_max bytes, set at boot: the tokenized copy of a line
  std::string reply_buffer_;  // reserved at boot, reused by every reply
  size_t model_bytes_ = 0;
  size_t staged_input_ = 0;  // bytes of the input tensor written by input_chunk so far
  std::string embedded_result_;  // JSON object for the banner, embedded-model mode only
  bool restart_requested_ = false;
};

}  // namespace tmh
