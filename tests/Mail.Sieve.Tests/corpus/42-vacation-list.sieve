require "vacation";
# msg: list.eml
vacation :days 1 "away";
