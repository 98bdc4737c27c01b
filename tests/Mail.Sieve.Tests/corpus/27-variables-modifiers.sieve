require ["variables", "fileinto"];
set :upper "a" "shout";
set :lowerfirst "b" "QUIET";
set :upperfirst :lower "c" "mIXED";
set :length "d" "four";
fileinto "${a}-${b}-${c}-${d}";
