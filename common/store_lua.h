/* store_lua: the Redis scripts of the alert store (the .lua files of common/lua/), built
 * into the library by cmake/embed.cmake as NUL-terminated byte arrays. Each
 * file's header comment gives its KEYS, ARGV and reply. */
#ifndef SA_STORE_LUA_H
#define SA_STORE_LUA_H

extern const unsigned char store_lua_create[];
extern const unsigned char store_lua_arm[];
extern const unsigned char store_lua_mark[];
extern const unsigned char store_lua_unpend[];
extern const unsigned char store_lua_delete[];
extern const unsigned char store_lua_disarm[];
extern const unsigned char store_lua_claim[];
extern const unsigned char store_lua_deliver[];
extern const unsigned char store_lua_outbox_read[];
extern const unsigned char store_lua_events[];
extern const unsigned char store_lua_migrate[];
extern const unsigned char store_lua_migrate_alert[];
extern const unsigned char store_lua_migrate_idem[];
extern const unsigned char store_lua_email_set[];
extern const unsigned char store_lua_email_issue[];
extern const unsigned char store_lua_email_confirm[];
extern const unsigned char store_lua_email_recipient[];

#endif
