/* SPDX-License-Identifier: MIT */
/* Command declarations: argument schemas, their validation and their description for help. */
#include "config.h"
#include <stdio.h>
#include <string.h>
#include "ctl.h"

static const char *const arg_type_str[] = {
	[CTL_ARG_INT] = "int",       [CTL_ARG_UINT] = "uint",     [CTL_ARG_NUMBER] = "number",
	[CTL_ARG_BOOL] = "bool",     [CTL_ARG_STRING] = "string", [CTL_ARG_OBJECT] = "object",
	[CTL_ARG_ARRAY] = "array",
};

const char *ctl_arg_type_str(enum ctl_arg_type type)
{
	return (unsigned)type < CTL_NR_ARG_TYPES ? arg_type_str[type] : "?";
}

static const char *json_type_str(json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a real number";
	case JSON_TRUE: return "true";
	case JSON_FALSE: return "false";
	case JSON_NULL: return "null";
	}
	return "?";
}

static const char *article(enum ctl_arg_type type)
{
	return type == CTL_ARG_INT || type == CTL_ARG_OBJECT || type == CTL_ARG_ARRAY ? "an" : "a";
}

static bool bounded(const struct ctl_arg *a)
{
	return a->min || a->max;
}

static const struct ctl_arg *find_arg(const struct ctl_command *cmd, const char *name)
{
	for (const struct ctl_arg *a = cmd->args; a && a->name; a++)
		if (!strcmp(a->name, name))
			return a;
	return NULL;
}

/* "count, template, sockets" into buf, for an unknown-argument message. */
static const char *arg_names(const struct ctl_command *cmd, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (const struct ctl_arg *a = cmd->args; a && a->name && off < len; a++) {
		int n = snprintf(buf + off, len - off, "%s%s", off ? ", " : "", a->name);
		if (n < 0)
			break;
		off += (size_t)n;
	}
	return buf;
}

/* Type (and choices, for strings) of one value; what names the value in messages. */
static bool check_type(const struct ctl_command *cmd, const char *what, enum ctl_arg_type type,
		       const char *const *choices, json_t *v, struct ctl_error *err)
{
	bool ok;

	switch (type) {
	case CTL_ARG_INT: ok = json_is_integer(v); break;
	case CTL_ARG_UINT: ok = json_is_integer(v) && json_integer_value(v) >= 0; break;
	case CTL_ARG_NUMBER: ok = json_is_number(v); break;
	case CTL_ARG_BOOL: ok = json_is_boolean(v); break;
	case CTL_ARG_STRING: ok = json_is_string(v); break;
	case CTL_ARG_OBJECT: ok = json_is_object(v); break;
	case CTL_ARG_ARRAY: ok = json_is_array(v); break;
	default: ok = false; break;
	}
	if (!ok) {
		if (json_is_integer(v) && type == CTL_ARG_UINT)
			ctl_fail(err, CTL_ARG_TYPE, "%s of '%s' must be a uint, got %lld", what, cmd->name,
				 (long long)json_integer_value(v));
		else
			ctl_fail(err, CTL_ARG_TYPE, "%s of '%s' must be %s %s, got %s", what, cmd->name,
				 article(type), ctl_arg_type_str(type), json_type_str(v));
		return false;
	}
	if (type == CTL_ARG_STRING && choices) {
		char list[160];
		size_t off = 0;

		for (const char *const *c = choices; *c; c++)
			if (!strcmp(*c, json_string_value(v)))
				return true;
		list[0] = '\0';
		for (const char *const *c = choices; *c && off < sizeof(list); c++) {
			int n = snprintf(list + off, sizeof(list) - off, "%s%s", off ? ", " : "", *c);
			if (n < 0)
				break;
			off += (size_t)n;
		}
		ctl_fail(err, CTL_ARG_VALUE, "%s of '%s' is '%.48s', must be one of: %s", what, cmd->name,
			 json_string_value(v), list);
		return false;
	}
	return true;
}

static bool check_value(const struct ctl_command *cmd, const struct ctl_arg *a, json_t *v, struct ctl_error *err)
{
	char what[64];
	long long n;

	snprintf(what, sizeof(what), "argument '%s'", a->name);
	if (!check_type(cmd, what, a->type, a->choices, v, err))
		return false;
	if (a->type == CTL_ARG_ARRAY) {
		size_t i;
		json_t *item;

		json_array_foreach(v, i, item) {
			snprintf(what, sizeof(what), "element %zu of argument '%s'", i, a->name);
			if (!check_type(cmd, what, a->items, NULL, item, err))
				return false;
		}
	}
	if (!bounded(a))
		return true;
	switch (a->type) {
	case CTL_ARG_INT:
	case CTL_ARG_UINT:
		n = json_integer_value(v);
		if (n < a->min || n > a->max) {
			ctl_fail(err, CTL_ARG_VALUE, "argument '%s' of '%s' is %lld, must be in [%lld, %lld]",
				 a->name, cmd->name, n, a->min, a->max);
			return false;
		}
		return true;
	case CTL_ARG_NUMBER:
		if (json_number_value(v) < (double)a->min || json_number_value(v) > (double)a->max) {
			ctl_fail(err, CTL_ARG_VALUE, "argument '%s' of '%s' is %g, must be in [%lld, %lld]",
				 a->name, cmd->name, json_number_value(v), a->min, a->max);
			return false;
		}
		return true;
	case CTL_ARG_STRING:
	case CTL_ARG_ARRAY:
		n = (long long)(a->type == CTL_ARG_STRING ? json_string_length(v) : json_array_size(v));
		if (n < a->min || n > a->max) {
			ctl_fail(err, CTL_ARG_VALUE, "argument '%s' of '%s' has length %lld, must be in [%lld, %lld]",
				 a->name, cmd->name, n, a->min, a->max);
			return false;
		}
		return true;
	default:
		return true;
	}
}

bool ctl_args_validate(const struct ctl_command *cmd, json_t *args, struct ctl_error *err)
{
	const char *key;
	json_t *v;

	if (!json_is_object(args)) {
		ctl_fail(err, CTL_BAD_ARGS, "\"args\" of '%s' must be an object, got %s", cmd->name,
			 json_type_str(args));
		return false;
	}
	json_object_foreach(args, key, v) {
		const struct ctl_arg *a = find_arg(cmd, key);
		char names[160];

		if (!a) {
			if (cmd->args && cmd->args->name)
				ctl_fail(err, CTL_UNKNOWN_ARG, "command '%s' has no argument '%.48s' (arguments: %s)",
					 cmd->name, key, arg_names(cmd, names, sizeof(names)));
			else
				ctl_fail(err, CTL_UNKNOWN_ARG, "command '%s' has no argument '%.48s' (it takes none)",
					 cmd->name, key);
			return false;
		}
		if (!check_value(cmd, a, v, err))
			return false;
	}
	for (const struct ctl_arg *a = cmd->args; a && a->name; a++) {
		if (a->required && !json_object_get(args, a->name)) {
			ctl_fail(err, CTL_MISSING_ARG, "command '%s' needs argument '%s' (%s)", cmd->name, a->name,
				 ctl_arg_type_str(a->type));
			return false;
		}
	}
	return true;
}

json_t *ctl_command_describe(const struct ctl_command *cmd)
{
	json_t *args = json_array();
	json_t *desc;

	for (const struct ctl_arg *a = cmd->args; a && a->name; a++) {
		json_t *d = json_pack("{s:s, s:s, s:b, s:s}", "name", a->name, "type", ctl_arg_type_str(a->type),
				      "required", a->required, "help", a->help ? a->help : "");

		if (!d)
			continue;
		if (bounded(a)) {
			json_object_set_new(d, "min", json_integer(a->min));
			json_object_set_new(d, "max", json_integer(a->max));
		}
		if (a->type == CTL_ARG_STRING && a->choices) {
			json_t *c = json_array();

			for (const char *const *s = a->choices; *s; s++)
				json_array_append_new(c, json_string(*s));
			json_object_set_new(d, "choices", c);
		}
		if (a->type == CTL_ARG_ARRAY)
			json_object_set_new(d, "items", json_string(ctl_arg_type_str(a->items)));
		json_array_append_new(args, d);
	}
	desc = json_pack("{s:s, s:s, s:o}", "name", cmd->name, "help", cmd->help ? cmd->help : "", "args", args);
	return desc;
}

static bool valid_name(const char *name, size_t max)
{
	size_t len = name ? strlen(name) : 0;

	if (!len || len > max || name[0] < 'a' || name[0] > 'z')
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') || name[i] == '_' ||
		      name[i] == '-'))
			return false;
	return true;
}

bool ctl_command_check(const struct ctl_command *cmd, struct ctl_error *err)
{
	unsigned nr = 0;

	if (!cmd || !valid_name(cmd->name, 32) || !cmd->help || !cmd->handler) {
		ctl_fail(err, CTL_INTERNAL, "command '%.40s' needs a name [a-z][a-z0-9_-]* of at most 32 "
			 "characters, a help line and a handler", cmd && cmd->name ? cmd->name : "(null)");
		return false;
	}
	for (const struct ctl_arg *a = cmd->args; a && a->name; a++, nr++) {
		bool scalar_items = a->items != CTL_ARG_OBJECT && a->items != CTL_ARG_ARRAY &&
				    (unsigned)a->items < CTL_NR_ARG_TYPES;

		if (nr >= CTL_MAX_ARGS || !valid_name(a->name, 32) || (unsigned)a->type >= CTL_NR_ARG_TYPES ||
		    a->min > a->max || (a->choices && a->type != CTL_ARG_STRING) ||
		    (a->type == CTL_ARG_ARRAY && !scalar_items) || find_arg(cmd, a->name) != a ||
		    (bounded(a) && (a->type == CTL_ARG_BOOL || a->type == CTL_ARG_OBJECT)) ||
		    (bounded(a) && a->type == CTL_ARG_UINT && a->min < 0)) {
			ctl_fail(err, CTL_INTERNAL, "argument %u ('%.40s') of command '%s' is declared wrongly", nr,
				 a->name, cmd->name);
			return false;
		}
	}
	return true;
}
