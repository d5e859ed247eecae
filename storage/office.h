/*
 * office: administrative division codes and the levels that follow from them.
 *
 * A code is the division code with trailing zero groups removed (2-2-2-3-3 digits):
 * 2 digits province, 4 city, 6 district, 9 street, 12 community. A lower level number
 * means more authority. An office's scope is every code that starts with its own.
 */
#ifndef CASELEDGER_OFFICE_H
#define CASELEDGER_OFFICE_H

#include <stdbool.h>

enum office_level {
	LEVEL_NONE = 0,
	LEVEL_PROVINCE = 1,
	LEVEL_CITY = 2,
	LEVEL_DISTRICT = 3,
	LEVEL_STREET = 4,
	LEVEL_COMMUNITY = 5,
};

#define OFFICE_CODE_MAX 12

/* The level of a valid code; ERR_INVALID (message names the code) when it is not one. */
int office_level(const char *code);

/* "province", "city", "district", "street", "community"; NULL for an unknown level. */
const char *office_level_name(enum office_level level);

/* Parse a level name as written in schema files; LEVEL_NONE when unknown. */
enum office_level office_level_parse(const char *name);

/* True when code lies within scope's office (scope is a prefix of code). */
bool office_in_scope(const char *scope, const char *code);

#endif
