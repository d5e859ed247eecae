/*
 * office: division codes -> levels and scopes.
 */
#include "config.h"

#include <string.h>

#include "err.h"
#include "office.h"

static const char *const level_names[] = {
    [LEVEL_PROVINCE] = "province", [LEVEL_CITY] = "city",	    [LEVEL_DISTRICT] = "district",
    [LEVEL_STREET] = "street",	   [LEVEL_COMMUNITY] = "community",
};

int office_level(const char *code)
{
	size_t len = code ? strlen(code) : 0;
	size_t i;

	for (i = 0; i < len; i++)
		if (code[i] < '0' || code[i] > '9')
			goto bad;
	switch (len) {
	case 2:
		return LEVEL_PROVINCE;
	case 4:
		return LEVEL_CITY;
	case 6:
		return LEVEL_DISTRICT;
	case 9:
		return LEVEL_STREET;
	case 12:
		return LEVEL_COMMUNITY;
	}
bad:
	return err_set(ERR_INVALID,
		       "office code '%s' is not valid: want 2, 4, 6, 9 or 12 digits "
		       "(province, city, district, street, community)",
		       code ? code : "");
}

const char *office_level_name(enum office_level level)
{
	if (level < LEVEL_PROVINCE || level > LEVEL_COMMUNITY)
		return NULL;
	return level_names[level];
}

enum office_level office_level_parse(const char *name)
{
	int l;

	for (l = LEVEL_PROVINCE; l <= LEVEL_COMMUNITY; l++)
		if (strcmp(name, level_names[l]) == 0)
			return (enum office_level)l;
	return LEVEL_NONE;
}

bool office_in_scope(const char *scope, const char *code)
{
	size_t n = strlen(scope);

	return strncmp(scope, code, n) == 0;
}
