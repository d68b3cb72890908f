/*
 * hs_envelope.h - the envelope of every payload on a network: a kind byte and a request id.
 *
 * A payload is HS_ENVELOPE_SIZE bytes of envelope, then a body, an hs_value encoding
 * (core/hs_value.h):
 *   byte 0     kind: HS_ENVELOPE_PLAIN, _REQUEST (awaits a reply) or _REPLY (answers one)
 *   bytes 1-8  request id, u64 little-endian (0 for a plain message)
 * Lua entities (engine/lua/runtime/hs_lua_net.c) and protocol adapters written in C (a Raft node
 * sends a plain envelope and its message encoding as an hs_value string) use the same
 * format, so they can talk to one another and interception sees every body as a Lua value.
 */
#ifndef HS_ENVELOPE_H
#define HS_ENVELOPE_H

#include "core/hs_value.h"

#define HS_ENVELOPE_SIZE 9

typedef enum hs_envelope_kind { HS_ENVELOPE_PLAIN = 0, HS_ENVELOPE_REQUEST = 1, HS_ENVELOPE_REPLY = 2 } hs_envelope_kind;

typedef struct hs_envelope {
  uint8_t kind; /* an hs_envelope_kind, or whatever byte a forged payload carries */
  uint64_t request_id;
} hs_envelope;

/* Writes e into the first HS_ENVELOPE_SIZE bytes of out. */
static inline void hs_envelope_encode(uint8_t *out, hs_envelope e) {
  out[0] = e.kind;
  for (int i = 0; i < 8; i++) out[1 + i] = (uint8_t)(e.request_id >> (8 * i));
}

/* Reads the envelope of a payload of len bytes; false (and *out zeroed) when it is shorter. */
static inline bool hs_envelope_decode(const uint8_t *data, size_t len, hs_envelope *out) {
  out->kind = 0;
  out->request_id = 0;
  if (len < HS_ENVELOPE_SIZE) return false;
  out->kind = data[0];
  for (int i = 7; i >= 0; i--) out->request_id = out->request_id << 8 | data[1 + i];
  return true;
}

/* The body of a payload of len bytes: a view of the bytes after the envelope (len 0 when
 * there are none). */
static inline hs_value hs_envelope_body(const uint8_t *data, size_t len) {
  if (len <= HS_ENVELOPE_SIZE) return (hs_value){data, 0};
  return (hs_value){data + HS_ENVELOPE_SIZE, len - HS_ENVELOPE_SIZE};
}

/* ---- a C protocol's message: a plain envelope and its encoding as one string value ---- */

/* Bytes before a protocol message's encoding: the envelope, the string tag and its u32 length. */
#define HS_ENVELOPE_MSG_HEADER (HS_ENVELOPE_SIZE + 5)

/* Writes the header of a protocol message of size bytes into the first HS_ENVELOPE_MSG_HEADER
 * bytes of out (size < 2^32, which the caller checks). */
static inline void hs_envelope_put_msg_header(uint8_t *out, size_t size) {
  hs_envelope_encode(out, (hs_envelope){HS_ENVELOPE_PLAIN, 0});
  out[HS_ENVELOPE_SIZE] = HS_V_STRING;
  for (int i = 0; i < 4; i++) out[HS_ENVELOPE_SIZE + 1 + i] = (uint8_t)(size >> (8 * i));
}

/* Whether a payload of len bytes looks like a protocol message: a plain envelope and a string
 * (its bytes are checked by hs_envelope_msg_body). */
static inline bool hs_envelope_is_msg(const uint8_t *data, size_t len) {
  return data && len >= HS_ENVELOPE_MSG_HEADER && data[0] == HS_ENVELOPE_PLAIN && data[HS_ENVELOPE_SIZE] == HS_V_STRING;
}

/* The encoding a protocol message carries, and its length in *size; NULL when the payload is
 * not one or its string's declared length is not what follows the header (a forged payload). */
static inline const uint8_t *hs_envelope_msg_body(const uint8_t *data, size_t len, size_t *size) {
  if (!hs_envelope_is_msg(data, len)) return NULL;
  uint32_t declared = 0;
  for (int i = 0; i < 4; i++) declared |= (uint32_t)data[HS_ENVELOPE_SIZE + 1 + i] << (8 * i);
  if (declared != len - HS_ENVELOPE_MSG_HEADER) return NULL;
  *size = declared;
  return data + HS_ENVELOPE_MSG_HEADER;
}

#endif
