require "vacation";
vacation :days 3 :subject "Out of office" :from "alice@example.org" :addresses ["alice@example.org", "a@example.org"] "Back soon.";
