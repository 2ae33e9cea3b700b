#pragma once
// The auth module's front door: other folders include only this header.
//   secrets.hpp    randomness, SHA-256, HMAC-SHA256, constant-time compare, UUIDs
//   utf8.hpp       strict UTF-8 decoding
//   password.hpp   password policy and argon2id hashing
//   jwt.hpp        HS256 access tokens with kid rotation
// Everything here is computation: no sockets, storage or clock reads. The base64url
// of tokens is domain/base64.hpp.

#include "auth/jwt.hpp"
#include "auth/password.hpp"
#include "auth/secrets.hpp"
#include "auth/utf8.hpp"
